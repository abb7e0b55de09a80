package actors

import (
	"bytes"
	"context"
	"runtime/pprof"
	"strings"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/eventops/eventops/internal/stagelabel"
)

// blockingActor holds its mailbox goroutine in Receive until released.
type blockingActor struct{ entered, release chan struct{} }

type holdMessage struct{}

func (a *blockingActor) Receive(c actor.Context) {
	if _, ok := c.Message().(holdMessage); ok {
		holdInReceive(a)
	}
}

//go:noinline
func holdInReceive(a *blockingActor) {
	close(a.entered)
	<-a.release
}

// An actor's mailbox runs under its stage's profiler label, whoever woke
// it: here a goroutine of another stage posts to it.
func TestActorsRunUnderTheirStageLabel(t *testing.T) {
	system := NewSystem(nil)
	defer system.Shutdown()
	a := &blockingActor{entered: make(chan struct{}), release: make(chan struct{})}
	pid := system.Root.Spawn(props(featuresDispatcher, a))
	stagelabel.Do(context.Background(), "ingest", func(context.Context) {
		system.Root.Send(pid, holdMessage{})
	})
	<-a.entered
	defer close(a.release)
	var b bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&b, 1); err != nil {
		t.Fatal(err)
	}
	// debug=1 lists goroutines by stack, each record's labels first.
	for _, record := range strings.Split(b.String(), "\n\n") {
		if strings.Contains(record, "holdInReceive") {
			if !strings.Contains(record, `"stage":"features"`) {
				t.Errorf("the mailbox goroutine is not labelled with its stage:\n%s", record)
			}
			return
		}
	}
	t.Fatalf("no goroutine in Receive:\n%s", b.String())
}

// The cost of starting a mailbox goroutine, with protoactor's dispatcher
// and with a stage's: the label is a pointer store per goroutine.
func BenchmarkDispatch(b *testing.B) {
	for _, c := range []struct {
		name string
		d    actor.Dispatcher
	}{{"default", actor.NewDefaultDispatcher(throughput)}, {"stage", featuresDispatcher}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			done := make(chan struct{}, 1)
			fn := func() { done <- struct{}{} }
			for b.Loop() {
				c.d.Schedule(fn)
				<-done
			}
		})
	}
}
