package pglocal_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/eventops/eventops/pglocal"
	"github.com/eventops/eventops/store/storetest"
)

// clusterDir is a directory for a cluster that the postgres user (who runs
// it when the tests run as root) can reach: t.TempDir() is private. Every
// test here runs PostgreSQL's programs: -short leaves them out.
func clusterDir(t *testing.T) string {
	t.Helper()
	storetest.NeedsPostgreSQL(t)
	dir, err := os.MkdirTemp("", "pglocal-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "postgres")
}

func start(t *testing.T, opts pglocal.Options) (*pglocal.Cluster, error) {
	t.Helper()
	c, err := pglocal.Start(context.Background(), opts)
	if err == nil {
		t.Cleanup(func() { _ = c.Stop() })
	}
	return c, err
}

func ping(t *testing.T, c *pglocal.Cluster) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

// holdPort listens on a free loopback port for the rest of the test.
func holdPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

// A restart of the same directory listens on the port of the first start,
// where its clients expect it.
func TestRestartKeepsThePort(t *testing.T) {
	dir := clusterDir(t)
	c, err := start(t, pglocal.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	port := c.Port()
	ping(t, c)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	c, err = start(t, pglocal.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if c.Port() != port {
		t.Fatalf("restarted on port %d, first on %d", c.Port(), port)
	}
	ping(t, c)
}

// When the kept port is taken, a start picks another and keeps that one;
// a start asked for a taken port says so.
func TestTakenPortIsReplaced(t *testing.T) {
	dir := clusterDir(t)
	taken := holdPort(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "port"), []byte(strconv.Itoa(taken)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := start(t, pglocal.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if c.Port() == taken {
		t.Fatalf("started on the taken port %d", taken)
	}
	ping(t, c)
	kept, err := os.ReadFile(filepath.Join(dir, "port"))
	if err != nil || string(kept) != fmt.Sprintf("%d\n", c.Port()) {
		t.Fatalf("kept port %q (%v), want %d", kept, err, c.Port())
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}

	if _, err := start(t, pglocal.Options{Dir: dir, Port: taken}); !errors.Is(err, pglocal.ErrPortInUse) {
		t.Fatalf("a start on the taken port %d: %v, want ErrPortInUse", taken, err)
	}
}

// The cluster takes its own user with the password kept in its directory,
// and no one else; the directory is its owner's alone, and the URL of the
// database is kept there for a shell to read.
func TestOnlyItsUserWithThePassword(t *testing.T) {
	dir := clusterDir(t)
	c, err := start(t, pglocal.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ping(t, c)
	checkPrivate(t, c, dir)
	// The same directory keeps its password across restarts.
	url := c.URL()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if c, err = start(t, pglocal.Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	if c.URL() != url {
		t.Fatalf("restarted with URL %s, first %s", c.URL(), url)
	}
	checkPrivate(t, c, dir)
}

// A cluster initialized to trust every local connection (as EventOps did
// before) gets a password at its next start.
func TestTrustingClusterGetsAPassword(t *testing.T) {
	dir := clusterDir(t)
	c, err := start(t, pglocal.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	trust := "local all all trust\nhost all all 127.0.0.1/32 trust\n"
	if err := os.WriteFile(filepath.Join(dir, "data", "pg_hba.conf"), []byte(trust), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "password")); err != nil {
		t.Fatal(err)
	}
	if c, err = start(t, pglocal.Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	ping(t, c)
	checkPrivate(t, c, dir)
}

func checkPrivate(t *testing.T, c *pglocal.Cluster, dir string) {
	t.Helper()
	ctx := context.Background()
	u, err := url.Parse(c.URL())
	if err != nil {
		t.Fatal(err)
	}
	if pw, ok := u.User.Password(); !ok || len(pw) < 16 {
		t.Fatalf("URL %s carries no password", c.URL())
	}
	for _, bad := range []*url.Userinfo{url.User("postgres"), url.UserPassword("postgres", "wrong"), url.User("root")} {
		v := *u
		v.User = bad
		conn, err := pgx.Connect(ctx, v.String())
		if err == nil {
			conn.Close(ctx)
			t.Fatalf("connected as %s", bad.String())
		}
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("the directory has mode %s, want 0700", fi.Mode().Perm())
	}
	kept, err := os.ReadFile(c.URLFile())
	if err != nil || string(kept) != c.URL()+"\n" {
		t.Fatalf("URL file %q (%v), want %s", kept, err, c.URL())
	}
	if c.URLFile() != filepath.Join(dir, "url") {
		t.Fatalf("URL file at %s", c.URLFile())
	}
	for _, f := range []string{"url", "password"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, fi, err)
		}
	}
}
