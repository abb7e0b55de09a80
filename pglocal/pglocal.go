package pglocal

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Options configure a private cluster.
type Options struct {
	// Dir holds the cluster (created if missing).
	Dir string
	// Port to listen on at 127.0.0.1. 0 listens where the last start of
	// Dir did, or on a free port the first time (and on another when that
	// one is taken at start).
	Port int
	// Database is created on first start (default "eventops").
	Database string
	// BinDir holds initdb, pg_ctl and postgres; empty finds them.
	BinDir string
	Logger *slog.Logger
}

// ErrPortInUse is a start that found its port taken.
var ErrPortInUse = errors.New("pglocal: the port is in use")

// startAttempts bounds the ports a start with Options.Port 0 tries.
const startAttempts = 5

// Cluster is a running private PostgreSQL.
type Cluster struct {
	opts     Options
	cred     *syscall.Credential
	port     int
	password string
	// lock is the directory's lock file, held with an exclusive flock
	// from Start to Stop.
	lock *os.File
}

// Start initializes the cluster if needed and starts it.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Dir == "" {
		return nil, errors.New("pglocal: a directory is required")
	}
	if opts.Database == "" {
		opts.Database = "eventops"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.BinDir == "" {
		dir, err := FindBinDir()
		if err != nil {
			return nil, err
		}
		opts.BinDir = dir
	}
	abs, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	opts.Dir = abs
	c := &Cluster{opts: opts, port: opts.Port}
	if os.Geteuid() == 0 {
		cred, err := postgresUser()
		if err != nil {
			return nil, err
		}
		c.cred = cred
	}
	if err := c.prepare(ctx); err != nil {
		c.unlock()
		return nil, err
	}
	if err := c.listen(ctx); err != nil {
		c.unlock()
		return nil, err
	}
	if err := c.createDatabase(ctx); err != nil {
		_ = c.Stop()
		return nil, err
	}
	if err := c.writePrivate(c.URLFile(), []byte(c.URL()+"\n")); err != nil {
		_ = c.Stop()
		return nil, fmt.Errorf("pglocal: write the URL: %w", err)
	}
	return c, nil
}

// URL is the connection string of the cluster's database, password
// included.
func (c *Cluster) URL() string { return c.DatabaseURL(c.opts.Database) }

// DatabaseURL is the connection string of another database of the cluster.
func (c *Cluster) DatabaseURL(name string) string {
	return fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable", superuser, c.password, c.port, name)
}

// URLFile is the file that holds URL while the cluster runs (and after):
// what a shell reads with DATABASE_URL=$(cat FILE).
func (c *Cluster) URLFile() string { return filepath.Join(c.opts.Dir, "url") }

// Port is the TCP port the cluster listens on.
func (c *Cluster) Port() int { return c.port }

func (c *Cluster) dataDir() string { return filepath.Join(c.opts.Dir, "data") }

// FindBinDir locates the directory of pg_ctl.
func FindBinDir() (string, error) {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dir := strings.TrimSpace(string(out))
		if _, err := os.Stat(filepath.Join(dir, "pg_ctl")); err == nil {
			return dir, nil
		}
	}
	if matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl"); len(matches) > 0 {
		sort.Slice(matches, func(i, j int) bool { return versionOf(matches[i]) > versionOf(matches[j]) })
		return filepath.Dir(matches[0]), nil
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(real), nil
		}
		return filepath.Dir(p), nil
	}
	return "", errors.New("pglocal: no PostgreSQL binaries found (install the postgresql package, or set DATABASE_URL)")
}

func versionOf(path string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return v
}

func postgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pglocal: running as root needs a `postgres` user to run PostgreSQL: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// freePort is a port nothing listens on now. PostgreSQL cannot listen on
// port 0 and say which port it got, so the port is chosen here, and a start
// that finds it taken meanwhile tries another.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.opts.BinDir, name), args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "TZ=UTC")
	cmd.Dir = c.opts.Dir
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd
}

func (c *Cluster) run(ctx context.Context, name string, args ...string) error {
	out, err := c.command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pglocal: %s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (c *Cluster) chown(path string) error {
	if c.cred == nil {
		return nil
	}
	return os.Chown(path, int(c.cred.Uid), int(c.cred.Gid))
}

// superuser is the one role of the cluster, its superuser.
const superuser = "postgres"

// hba is the cluster's pg_hba.conf: its one user, with its password, and
// no one else.
const hba = `# Written by EventOps at every start: only the postgres user, with the
# password kept in ../password.
local all postgres scram-sha-256
host  all postgres 127.0.0.1/32 scram-sha-256
host  all postgres ::1/128 scram-sha-256
`

// prepare makes the directory, takes its lock, stops a server an earlier
// owner left running, and initializes or converts the cluster.
func (c *Cluster) prepare(ctx context.Context) error {
	if err := os.MkdirAll(c.opts.Dir, 0o700); err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	if err := c.lockDir(); err != nil {
		return err
	}
	if err := c.stopOrphan(ctx); err != nil {
		return err
	}
	return c.init(ctx)
}

func (c *Cluster) lockFile() string { return filepath.Join(c.opts.Dir, "lock") }

// lockDir takes an exclusive lock on the directory for the cluster's
// life; a directory another process holds is refused with that process's
// pid. The kernel releases the lock when its holder exits, however it
// exits.
func (c *Cluster) lockDir() error {
	f, err := os.OpenFile(c.lockFile(), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := io.ReadAll(io.LimitReader(f, 32))
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := strings.TrimSpace(string(b))
			if holder == "" {
				holder = "unknown"
			}
			return fmt.Errorf("pglocal: data directory %s in use by pid %s", c.opts.Dir, holder)
		}
		return fmt.Errorf("pglocal: lock %s: %w", c.lockFile(), err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	c.lock = f
	return nil
}

// unlock releases the directory's lock.
func (c *Cluster) unlock() {
	if c.lock != nil {
		_ = c.lock.Close()
		c.lock = nil
	}
}

// stopOrphan stops a server of the directory that runs although no one
// holds the directory's lock: one whose owner died without stopping it.
// A pid file without a running server is left to pg_ctl start, which
// replaces it.
func (c *Cluster) stopOrphan(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(c.dataDir(), "postmaster.pid")); err != nil {
		return nil
	}
	// pg_ctl status exits 0 when the server runs, 3 when it does not.
	if err := c.command(ctx, "pg_ctl", "-D", c.dataDir(), "status").Run(); err != nil {
		return nil
	}
	c.opts.Logger.Warn("private PostgreSQL: stopping a server an earlier run left behind", "dir", c.dataDir())
	return c.run(ctx, "pg_ctl", "-D", c.dataDir(), "-m", "fast", "-w", "stop")
}

func (c *Cluster) init(ctx context.Context) error {
	// The directory holds the password and the socket: its owner only.
	if err := os.Chmod(c.opts.Dir, 0o700); err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	if err := c.reachable(); err != nil {
		return err
	}
	if err := c.chown(c.opts.Dir); err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	if err := c.loadPassword(); err != nil {
		return err
	}
	hbaFile := filepath.Join(c.dataDir(), "pg_hba.conf")
	if _, err := os.Stat(filepath.Join(c.dataDir(), "PG_VERSION")); err != nil {
		c.opts.Logger.Info("initializing a private PostgreSQL cluster", "dir", c.dataDir())
		if err := c.run(ctx, "initdb", "-D", c.dataDir(), "-U", superuser, "-A", "scram-sha-256", "--pwfile", c.passwordFile(),
			"-E", "UTF8", "--locale=C.UTF-8"); err != nil {
			return err
		}
	} else if b, err := os.ReadFile(hbaFile); err != nil || string(b) != hba {
		// A cluster not yet converted to the password: one of an earlier
		// version, which trusted every local connection, or one whose
		// conversion was cut short. Its user gets the kept password; only
		// then is pg_hba.conf, the mark of a finished conversion, written.
		c.opts.Logger.Info("private PostgreSQL: setting the password of its user", "dir", c.dataDir())
		if err := c.setPassword(ctx); err != nil {
			return err
		}
	}
	return c.writePrivate(hbaFile, []byte(hba))
}

func (c *Cluster) passwordFile() string { return filepath.Join(c.opts.Dir, "password") }

// loadPassword reads the password kept in the directory, or makes one and
// keeps it.
func (c *Cluster) loadPassword() error {
	b, err := os.ReadFile(c.passwordFile())
	if err == nil && len(bytes.TrimSpace(b)) > 0 {
		c.password = string(bytes.TrimSpace(b))
		return nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("pglocal: %w", err)
	}
	var r [16]byte
	if _, err := rand.Read(r[:]); err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	c.password = hex.EncodeToString(r[:])
	if err := c.writePrivate(c.passwordFile(), []byte(c.password+"\n")); err != nil {
		return fmt.Errorf("pglocal: keep the password: %w", err)
	}
	return nil
}

// setPassword sets the user's password, hashed with SCRAM, in single-user
// mode (the server is stopped). Single-user mode reports a failed
// statement on its output and still exits 0, so the output is checked too.
func (c *Cluster) setPassword(ctx context.Context) error {
	cmd := c.command(ctx, "postgres", "--single", "-D", c.dataDir(), "-c", "password_encryption=scram-sha-256", "postgres")
	cmd.Stdin = strings.NewReader(fmt.Sprintf("ALTER ROLE %s PASSWORD '%s';\n", superuser, c.password))
	out, err := cmd.CombinedOutput()
	if err == nil && (bytes.Contains(out, []byte("ERROR:")) || bytes.Contains(out, []byte("FATAL:"))) {
		err = errors.New("the statement failed")
	}
	if err != nil {
		return fmt.Errorf("pglocal: set the password: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// writePrivate replaces a file, atomically, with one only its owner (the
// user PostgreSQL runs as) may read: a crash leaves the old file or the
// new one, never a part of it.
func (c *Cluster) writePrivate(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.Write(b)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = c.chown(tmp)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// reachable checks that the user PostgreSQL runs as can reach the
// directory: every directory above it must let others through.
func (c *Cluster) reachable() error {
	if c.cred == nil {
		return nil
	}
	for dir := filepath.Dir(c.opts.Dir); ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("pglocal: %w", err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("pglocal: PostgreSQL runs as the postgres user, who cannot reach %s through %s (mode %s): "+
				"choose a data directory under a path others may traverse, or chmod o+x %s", c.opts.Dir, dir, fi.Mode().Perm(), dir)
		}
		if dir == filepath.Dir(dir) {
			return nil
		}
	}
}

func (c *Cluster) portFile() string { return filepath.Join(c.opts.Dir, "port") }

// listen starts the cluster on its port: Options.Port, else the port of
// the last start (clients of the last run expect it there), else a free
// one; a port of its own choosing that turns out taken is replaced, a
// bounded number of times. The port that worked is kept for the next start.
func (c *Cluster) listen(ctx context.Context) error {
	c.port = c.opts.Port
	if c.port == 0 {
		c.port = c.lastPort()
	}
	for attempt := 1; ; attempt++ {
		if c.port == 0 {
			p, err := freePort()
			if err != nil {
				return fmt.Errorf("pglocal: %w", err)
			}
			c.port = p
		}
		err := c.start(ctx)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrPortInUse) || c.opts.Port != 0 || attempt == startAttempts {
			return err
		}
		c.opts.Logger.Warn("private PostgreSQL: its port is taken; trying another", "port", c.port, "attempt", attempt)
		c.port = 0
	}
	if err := os.WriteFile(c.portFile(), []byte(strconv.Itoa(c.port)+"\n"), 0o644); err != nil {
		return fmt.Errorf("pglocal: keep the port: %w", err)
	}
	return nil
}

// lastPort is the port the last start of the directory listened on, 0 if
// none is known.
func (c *Cluster) lastPort() int {
	b, err := os.ReadFile(c.portFile())
	if err != nil {
		return 0
	}
	p, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || p <= 0 || p > 65535 {
		return 0
	}
	return p
}

func (c *Cluster) start(ctx context.Context) error {
	// A cluster killed before is left with a pid file; pg_ctl start copes
	// when its process is gone (stopOrphan stopped it when it was not).
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=on -c max_connections=200 -c shared_buffers=256MB -c max_wal_size=2GB -c log_min_messages=warning",
		c.port, c.opts.Dir)
	logFile := filepath.Join(c.opts.Dir, "postgres.log")
	var logged int64
	if fi, err := os.Stat(logFile); err == nil {
		logged = fi.Size()
	}
	if err := c.run(ctx, "pg_ctl", "-D", c.dataDir(), "-l", logFile, "-o", opts, "-w", "-t", "60", "start"); err != nil {
		if portTaken(logFile, logged) {
			return fmt.Errorf("%w: 127.0.0.1:%d: %w", ErrPortInUse, c.port, err)
		}
		return err
	}
	c.opts.Logger.Info("private PostgreSQL started", "port", c.port, "dir", c.dataDir())
	return nil
}

// portTaken reports whether the server log, from offset on (this start's
// part), says the port was taken.
func portTaken(logFile string, offset int64) bool {
	f, err := os.Open(logFile)
	if err != nil {
		return false
	}
	defer f.Close()
	b, err := io.ReadAll(io.NewSectionReader(f, offset, 1<<20))
	return err == nil && bytes.Contains(b, []byte("could not bind")) && bytes.Contains(b, []byte("Address already in use"))
}

func (c *Cluster) createDatabase(ctx context.Context) error {
	psql := func(sql string) *exec.Cmd {
		// The password goes in the environment, which only the user and
		// root may read, never on the command line, which every local user
		// may read.
		cmd := exec.CommandContext(ctx, filepath.Join(c.opts.BinDir, "psql"),
			"-h", "127.0.0.1", "-p", strconv.Itoa(c.port), "-U", superuser, "-d", "postgres", "-tAc", sql)
		cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=10", "PGPASSWORD="+c.password, "PGSSLMODE=disable")
		return cmd
	}
	out, err := psql(fmt.Sprintf("SELECT 1 FROM pg_database WHERE datname = '%s'", c.opts.Database)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pglocal: check database: %w: %s", err, out)
	}
	if strings.TrimSpace(string(out)) == "1" {
		return nil
	}
	if out, err := psql(fmt.Sprintf(`CREATE DATABASE "%s"`, c.opts.Database)).CombinedOutput(); err != nil {
		return fmt.Errorf("pglocal: create database: %w: %s", err, out)
	}
	return nil
}

// Stop shuts the cluster down (fast mode: sessions end, data is flushed)
// and releases its directory. A second Stop does nothing.
func (c *Cluster) Stop() error {
	if c.lock == nil {
		return nil
	}
	defer c.unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return c.run(ctx, "pg_ctl", "-D", c.dataDir(), "-m", "fast", "-w", "stop")
}
