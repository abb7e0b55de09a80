package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// process is one child process of the harness: the broker or a replica.
type process struct {
	name string
	args []string
	env  []string
	log  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan error
	// exits records how each run of the process ended.
	exits []error
}

func newProcess(name, logDir string, env []string, args ...string) *process {
	return &process{name: name, args: args, env: env, log: filepath.Join(logDir, name+".log")}
}

// start runs the process (again); its output is appended to its log.
func (p *process) start(binary string) error {
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(binary, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", p.name, err)
	}
	done := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		f.Close()
		p.mu.Lock()
		p.exits = append(p.exits, err)
		p.mu.Unlock()
		done <- err
	}()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	return nil
}

func (p *process) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case err := <-p.done:
		p.done <- err
		return false
	default:
		return true
	}
}

func (p *process) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// signal sends sig and waits up to timeout for the exit.
func (p *process) signal(sig syscall.Signal, timeout time.Duration) error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(sig)
	select {
	case err := <-done:
		done <- err
		return nil
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		err := <-done
		done <- err
		return fmt.Errorf("%s did not stop within %s after %s", p.name, timeout, sig)
	}
}

// unexpectedExits returns the exits other than those the harness caused.
func (p *process) unexpectedExits(caused int) []error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []error
	for i, err := range p.exits {
		if i < caused {
			continue
		}
		out = append(out, fmt.Errorf("%s exited: %v", p.name, err))
	}
	return out
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitListening polls until addr accepts connections.
func waitListening(ctx context.Context, addr string, p *process, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if p != nil && !p.running() {
			return fmt.Errorf("%s exited before listening on %s (see %s)", p.name, addr, p.log)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on %s after %s", addr, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitReady polls a replica's /readyz until it answers 200.
func waitReady(ctx context.Context, base string, p *process, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if !p.running() {
			return fmt.Errorf("%s exited before it was ready (see %s)", p.name, p.log)
		}
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			err = fmt.Errorf("readyz %d", resp.StatusCode)
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.Join(fmt.Errorf("%s not ready after %s", p.name, timeout), last)
}
