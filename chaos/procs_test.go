package chaos

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A process brought back on its address is started again while its runs
// exit because the address is taken, and its addresses are read from the
// addr file of the run that listened. The processes are shell scripts
// standing for eventops: `--addr-file PATH` reaches them as $0 and $1.
func TestBackOnTheSameAddress(t *testing.T) {
	const (
		taken  = `echo "eventops broker failed err=\"listen tcp 127.0.0.1:9092: bind: address already in use\"" >&2; exit 1`
		listen = `printf '{"kafka":["127.0.0.1:9092"]}' > "$1.tmp" && mv "$1.tmp" "$1" && exec sleep 60`
		broken = `echo "eventops broker failed err=\"loading persisted state: corrupt\"" >&2; exit 1`
	)
	ctx := context.Background()
	p := newProcess("broker", t.TempDir(), nil)
	t.Cleanup(func() { _ = p.signal(syscall.SIGKILL, 10*time.Second) })
	runs := 0
	start := func(scripts ...string) func() error {
		return func() error {
			p.args = []string{"-c", scripts[min(runs, len(scripts)-1)]}
			runs++
			if err := p.start("/bin/sh"); err != nil {
				return err
			}
			_, err := waitListening(ctx, p, time.Minute)
			return err
		}
	}
	isTaken := func(err error) bool { return errors.Is(err, errAddrInUse) }

	if err := onSameAddr(ctx, "the broker", start(taken, taken, listen), isTaken); err != nil {
		t.Fatal(err)
	}
	if runs != 3 || p.listening().Kafka[0] != "127.0.0.1:9092" {
		t.Fatalf("%d runs, listening %+v", runs, p.listening())
	}
	if err := p.signal(syscall.SIGKILL, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	runs = 0
	err := onSameAddr(ctx, "the broker", start(taken), isTaken)
	if runs != sameAddrAttempts || !isTaken(err) || !strings.Contains(err.Error(), "still taken after 5 starts") {
		t.Fatalf("%d runs: %v", runs, err)
	}
	runs = 0
	if err := onSameAddr(ctx, "the broker", start(broken), isTaken); runs != 1 || err == nil || isTaken(err) {
		t.Fatalf("another failure: %d runs: %v", runs, err)
	}
}
