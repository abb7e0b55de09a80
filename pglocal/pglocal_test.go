package pglocal_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/eventops/eventops/pglocal"
)

// clusterDir is a directory for a cluster that the postgres user (who runs
// it when the tests run as root) can reach: t.TempDir() is private.
func clusterDir(t *testing.T) string {
	t.Helper()
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
