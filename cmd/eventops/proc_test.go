package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the eventops binary the end-to-end tests run, built once.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "eventops-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "eventops")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, ".")...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building eventops:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// proc is a running eventops process.
type proc struct {
	t    testing.TB
	cmd  *exec.Cmd
	done chan error
	mu   sync.Mutex
	log  strings.Builder
	HTTP string // base URL of the API
}

// startEventops runs `eventops args...` with env and waits until its API
// answers /readyz (when it has an API).
func startEventops(t testing.TB, env []string, httpAddr string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, done: make(chan error, 1), HTTP: "http://" + httpAddr}
	p.cmd = exec.Command(binary, args...)
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
	go func() { p.done <- p.cmd.Wait(); pw.Close() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("eventops %s output:\n%s", args[0], p.Log())
		}
	})
	if httpAddr != "" {
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

func (p *proc) waitReady(timeout time.Duration) {
	p.t.Helper()
	eventually(p.t, timeout, "eventops ready", func() error {
		select {
		case err := <-p.done:
			p.done <- err
			return fmt.Errorf("exited: %v", err)
		default:
		}
		resp, err := http.Get(p.HTTP + "/readyz")
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
	case err := <-p.done:
		if err != nil {
			p.t.Fatalf("eventops exited with %v", err)
		}
	case <-time.After(timeout):
		p.t.Fatalf("eventops did not stop within %s", timeout)
	}
}

// eventually polls f until it returns nil or the deadline passes.
func eventually(t testing.TB, timeout time.Duration, what string, f func() error) {
	t.Helper()
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
