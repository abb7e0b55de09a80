package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is one child process of the harness: the broker or a replica.
// Each run is given an addr file (eventops --addr-file), where it reports
// the addresses it listens on: the harness asks for port 0 where it can.
type process struct {
	name     string
	args     []string
	env      []string
	log      string
	addrFile string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan error
	// logged is the size of the log when this run started.
	logged int64
	// addrs are what this run reported it listens on.
	addrs listening
	// exits records how each run of the process ended.
	exits []error
}

// listening is the JSON of an eventops addr file.
type listening struct {
	Kafka []string `json:"kafka"`
	HTTP  string   `json:"http"`
}

// errAddrInUse is a run that exited because its address was taken.
var errAddrInUse = errors.New("its address is in use")

// sameAddrAttempts bounds the starts that bring a process back on the
// address it had: the port, free a moment ago, can be taken meanwhile (a
// connection's ephemeral port, another program), mostly not for long.
const sameAddrAttempts = 5

func newProcess(name, logDir string, env []string, args ...string) *process {
	return &process{name: name, args: args, env: env, log: filepath.Join(logDir, name+".log"),
		addrFile: filepath.Join(logDir, name+".addrs.json")}
}

// start runs the process (again); its output is appended to its log.
func (p *process) start(binary string) error {
	if err := os.Remove(p.addrFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	cmd := exec.Command(binary, append(p.args, "--addr-file", p.addrFile)...)
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
	p.cmd, p.done, p.logged, p.addrs = cmd, done, fi.Size(), listening{}
	p.mu.Unlock()
	return nil
}

// listening returns what the current run reported it listens on.
func (p *process) listening() listening {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addrs
}

// exitReason is why the current run exited: errAddrInUse when its output
// says its address was taken.
func (p *process) exitReason() error {
	p.mu.Lock()
	offset := p.logged
	p.mu.Unlock()
	err := fmt.Errorf("%s exited before it listened (see %s)", p.name, p.log)
	f, ferr := os.Open(p.log)
	if ferr != nil {
		return err
	}
	defer f.Close()
	out, _ := io.ReadAll(io.NewSectionReader(f, offset, 1<<20))
	if strings.Contains(string(out), "address already in use") {
		return fmt.Errorf("%w: %w", errAddrInUse, err)
	}
	return err
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

// waitListening polls the process's addr file until the current run
// reports what it listens on.
func waitListening(ctx context.Context, p *process, timeout time.Duration) (listening, error) {
	deadline := time.Now().Add(timeout)
	for {
		var l listening
		b, err := os.ReadFile(p.addrFile)
		if err == nil {
			if err := json.Unmarshal(b, &l); err != nil {
				return l, fmt.Errorf("%s: %s: %w", p.name, p.addrFile, err)
			}
			p.mu.Lock()
			p.addrs = l
			p.mu.Unlock()
			return l, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return l, err
		}
		if !p.running() {
			return l, p.exitReason()
		}
		if time.Now().After(deadline) {
			return l, fmt.Errorf("%s did not listen within %s (see %s)", p.name, timeout, p.log)
		}
		select {
		case <-ctx.Done():
			return l, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// onSameAddr runs start until it succeeds, again after a pause while taken
// says its error is a port taken meanwhile, at most sameAddrAttempts times.
func onSameAddr(ctx context.Context, what string, start func() error, taken func(error) bool) error {
	for attempt := 1; ; attempt++ {
		err := start()
		if err == nil || !taken(err) {
			return err
		}
		if attempt == sameAddrAttempts {
			return fmt.Errorf("%s: its address was still taken after %d starts: %w", what, attempt, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
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
