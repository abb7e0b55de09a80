package pglocal_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventops/eventops/pglocal"
	"github.com/eventops/eventops/store/storetest"
)

// Converting a trusting cluster keeps the new password file before the
// role gets that password. A start stopped in between (Ctrl-C, kill, power)
// leaves a password file the role does not have yet; the next start gives
// the role the kept password and opens the cluster with it.
func TestConversionInterruptedAfterPasswordFileIsRedone(t *testing.T) {
	dir := clusterDir(t)
	c, err := start(t, pglocal.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	// The directory of the earlier version: trusting, no password file.
	trust := "local all all trust\nhost all all 127.0.0.1/32 trust\n"
	if err := os.WriteFile(filepath.Join(dir, "data", "pg_hba.conf"), []byte(trust), 0o600); err != nil {
		t.Fatal(err)
	}
	// The interrupted conversion: loadPassword kept a fresh password, the
	// process died before setPassword ran.
	if err := os.WriteFile(filepath.Join(dir, "password"), []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = start(t, pglocal.Options{Dir: dir})
	if err != nil {
		t.Fatalf("the start after an interrupted conversion fails: %v", err)
	}
	ping(t, c)
}

// A second start of a directory whose cluster runs (a second `eventops dev`
// on the same data directory) is refused with the first owner's pid, and
// the first one's sessions go on.
func TestSecondStartDoesNotStopTheRunningCluster(t *testing.T) {
	dir := clusterDir(t)
	c, err := start(t, pglocal.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	_, err2 := start(t, pglocal.Options{Dir: dir})
	if want := fmt.Sprintf("in use by pid %d", os.Getpid()); err2 == nil || !strings.Contains(err2.Error(), want) {
		t.Errorf("a second start: %v, want an error saying %q", err2, want)
	}
	if err := conn.Ping(ctx); err != nil {
		t.Fatalf("the first owner's session is cut by a second start (second start err: %v): %v", err2, err)
	}
}

// The generated password must not reach a process's command line, where
// every local user reads it (ps, /proc/PID/cmdline): psql, which creates
// the database, runs with it in its environment only.
func TestPasswordNotOnACommandLine(t *testing.T) {
	storetest.NeedsPostgreSQL(t)
	real, err := pglocal.FindBinDir()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(filepath.Dir(clusterDir(t)), "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		if err := os.Symlink(filepath.Join(real, name), filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	argv := filepath.Join(bin, "argv")
	script := "#!/bin/sh\nprintf '%s\\n' \"$*\" >> " + argv + "\nexec " + filepath.Join(real, "psql") + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "psql"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := start(t, pglocal.Options{Dir: clusterDir(t), BinDir: bin})
	if err != nil {
		t.Fatal(err)
	}
	pw, err := os.ReadFile(filepath.Join(filepath.Dir(c.URLFile()), "password"))
	if err != nil {
		t.Fatal(err)
	}
	seen, err := os.ReadFile(argv)
	if err != nil {
		t.Fatal(err)
	}
	if p := strings.TrimSpace(string(pw)); strings.Contains(string(seen), p) {
		t.Fatalf("psql ran with the password on its command line:\n%s", seen)
	}
}
