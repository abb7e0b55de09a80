package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// FreshDatabase makes an empty database called name on the server of
// adminURL (dropping one of that name first, with its connections), so
// that a run never mixes with data already there, and returns its URL.
func FreshDatabase(ctx context.Context, adminURL, name string) (string, error) {
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", err
	}
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
		return "", fmt.Errorf("database %s: %w", name, err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		return "", fmt.Errorf("database %s: %w", name, err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// DropDatabase drops the database called name on the server of adminURL,
// with its connections.
func DropDatabase(ctx context.Context, adminURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("database %s: %w", name, err)
	}
	return nil
}

// brokerProcess is `eventops broker` run as a child process.
type brokerProcess struct {
	addr string
	pid  int
	stop func()
}

// startBrokerProcess runs the broker of binary in dir on a port of its
// choosing, and waits until it says where it listens.
func startBrokerProcess(ctx context.Context, binary, dir string) (*brokerProcess, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	addrFile := filepath.Join(dir, "addrs.json")
	cmd := exec.Command(binary, "broker", "--data-dir", dir, "--kafka-addr", "127.0.0.1:0", "--addr-file", addrFile, "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("broker process: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	addr, err := awaitKafkaAddr(lctx, addrFile, exited)
	if err != nil {
		stop()
		return nil, fmt.Errorf("broker process: %w", err)
	}
	return &brokerProcess{addr: addr, pid: cmd.Process.Pid, stop: stop}, nil
}

// awaitKafkaAddr polls the addr file a broker process writes once it
// listens (eventops --addr-file) and returns its first broker's address.
func awaitKafkaAddr(ctx context.Context, path string, exited <-chan struct{}) (string, error) {
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			var l struct{ Kafka []string }
			if err := json.Unmarshal(b, &l); err != nil || len(l.Kafka) == 0 {
				return "", fmt.Errorf("addr file %s: %q: %v", path, b, err)
			}
			return l.Kafka[0], nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		select {
		case <-exited:
			return "", errors.New("the process exited before it listened")
		case <-ctx.Done():
			return "", fmt.Errorf("waiting for %s: %w", path, ctx.Err())
		case <-time.After(50 * time.Millisecond): // the poll interval
		}
	}
}

// writeHeapProfile writes a heap profile, after a collection, to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	runtime.GC()
	return pprof.WriteHeapProfile(f)
}

// cpuProfile starts a CPU profile and returns what stops it and returns
// the profile, once however often it is called (later calls return the
// same bytes); when path is set, the profile is also written there.
func cpuProfile(path string) (stop func() ([]byte, error), err error) {
	var buf bytes.Buffer
	if err := pprof.StartCPUProfile(&buf); err != nil {
		return nil, err
	}
	return sync.OnceValues(func() ([]byte, error) {
		pprof.StopCPUProfile()
		if path != "" {
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				return buf.Bytes(), err
			}
		}
		return buf.Bytes(), nil
	}), nil
}

// Machine describes where the benchmark runs.
func Machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.SplitN(string(b), "\n", 2)[0], "MemTotal: %d kB", &kb)
		mem = fmt.Sprintf(", %d GiB", (kb+1<<19)>>20)
	}
	return fmt.Sprintf("%d cores (%s)%s, %s/%s, %s", runtime.NumCPU(), model, mem, runtime.GOOS, runtime.GOARCH, runtime.Version())
}
