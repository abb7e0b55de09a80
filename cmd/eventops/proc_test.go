package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eventops/eventops/broker/brokertest"
)

// The eventops binary the end-to-end tests run is built once, by the first
// test that needs it: a run of tests that start no process (make check, or
// -run naming one of them) builds nothing.
var (
	binaryOnce sync.Once
	binaryDir  string
	binaryPath string
	binaryErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binaryDir != "" {
		os.RemoveAll(binaryDir)
	}
	os.Exit(code)
}

// eventopsBinary returns the path of the eventops binary, built from this
// package (with the race detector when the tests have it).
func eventopsBinary(t testing.TB) string {
	t.Helper()
	binaryOnce.Do(func() {
		if binaryDir, binaryErr = os.MkdirTemp("", "eventops-bin"); binaryErr != nil {
			return
		}
		path := filepath.Join(binaryDir, "eventops")
		args := []string{"build", "-o", path}
		if raceEnabled {
			args = append(args, "-race")
		}
		if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
			binaryErr = fmt.Errorf("building eventops: %v\n%s", err, out)
			return
		}
		binaryPath = path
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return binaryPath
}

// patience scales the deadlines of these tests. Each waits for something
// that does happen and is sized for an idle machine; the race detector and
// a loaded machine slow everything several times over, and a deadline
// costs nothing until it expires.
func patience(d time.Duration) time.Duration {
	if raceEnabled {
		return 6 * d
	}
	return 2 * d
}

// proc is a running eventops process.
type proc struct {
	t   testing.TB
	cmd *exec.Cmd
	// exited is closed once the process has exited, err says how.
	exited chan struct{}
	err    error
	mu     sync.Mutex
	log    strings.Builder
	// Kafka are the embedded brokers' addresses, HTTP the base URL of the
	// API, as the process reported them in its addr file.
	Kafka []string
	HTTP  string
}

// The tests that run eventops processes call t.Parallel: each has its own
// data directory, database and ports, and most of their time goes into
// waiting for a process (to start, to fire an alert after `for`, to stop).

// startEventops runs `eventops args...` with env, reads the addresses it
// listens on from its addr file, and waits until its API answers /readyz
// (when it has an API). Every process started here runs or reaches a
// broker: -short leaves its test out.
func startEventops(t testing.TB, env []string, args ...string) *proc {
	t.Helper()
	brokertest.NeedsBroker(t)
	addrFile := filepath.Join(t.TempDir(), "addrs.json")
	p := &proc{t: t, exited: make(chan struct{})}
	p.cmd = exec.Command(eventopsBinary(t), append(args, "--addr-file", addrFile)...)
	p.cmd.Env = append(os.Environ(), env...)
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
	}()
	go func() {
		p.err = p.cmd.Wait()
		pw.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("eventops %s output:\n%s", args[0], p.Log())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), patience(60*time.Second))
	defer cancel()
	l, err := awaitListening(ctx, addrFile, p.exited)
	if err != nil {
		t.Fatalf("eventops %s: %v", args[0], err)
	}
	p.Kafka = l.Kafka
	if l.HTTP != "" {
		p.HTTP = "http://" + l.HTTP
		p.waitReady(90 * time.Second)
	}
	return p
}

// Log returns what the process printed so far.
func (p *proc) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// wait returns how the process exited, once it has.
func (p *proc) wait() error {
	<-p.exited
	return p.err
}

func (p *proc) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL (nothing when the process has exited) and waits for
// the exit.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.wait()
}

func (p *proc) waitReady(timeout time.Duration) {
	p.t.Helper()
	// The API listens before it serves: a request waits for the server.
	client := &http.Client{Timeout: 10 * time.Second}
	eventually(p.t, timeout, "eventops ready", func() error {
		if p.hasExited() {
			p.t.Fatalf("eventops exited before it was ready: %v", p.err)
		}
		resp, err := client.Get(p.HTTP + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("readyz %d", resp.StatusCode)
		}
		return nil
	})
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(timeout time.Duration) {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if p.err != nil {
			p.t.Fatalf("eventops exited with %v", p.err)
		}
	case <-time.After(patience(timeout)):
		p.t.Fatalf("eventops did not stop within %s", patience(timeout))
	}
}

// eventually polls f until it returns nil or the deadline passes.
func eventually(t testing.TB, timeout time.Duration, what string, f func() error) {
	t.Helper()
	timeout = patience(timeout)
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = f(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, timeout, err)
		}
		<-time.After(100 * time.Millisecond) // the poll interval
	}
}

func getJSON(url string, v any) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			return resp.StatusCode, fmt.Errorf("%w: %s", err, b)
		}
	}
	return resp.StatusCode, nil
}

// kcat runs the real kcat with input on stdin.
func kcat(t testing.TB, input string, args ...string) {
	t.Helper()
	cmd := exec.Command("kcat", args...)
	cmd.Stdin = strings.NewReader(input)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat %v: %v: %s", args, err, out)
	}
}
