package actors

import (
	"bytes"
	"context"
	"runtime/pprof"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/eventops/eventops/internal/stagelabel"
	"github.com/eventops/eventops/tables"
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
	for _, c := range []struct {
		name string
		d    actor.Dispatcher
	}{{"goroutine per run", sinkDispatcher}, {"workers", newWorkerDispatcher(tables.StageSink, time.Minute)}} {
		t.Run(c.name, func(t *testing.T) { testActorRunsUnderItsStageLabel(t, c.d) })
	}
}

func testActorRunsUnderItsStageLabel(t *testing.T, d actor.Dispatcher) {
	system := NewSystem(nil)
	defer system.Shutdown()
	a := &blockingActor{entered: make(chan struct{}), release: make(chan struct{})}
	pid := system.Root.Spawn(props(d, a))
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
			if !strings.Contains(record, `"stage":"sink"`) {
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
	}{{"default", actor.NewDefaultDispatcher(throughput)}, {"stage", sinkDispatcher}, {"workers", newWorkerDispatcher(tables.StageFeatures, time.Minute)}} {
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

// A worker dispatcher never makes a mailbox run wait behind another: a run
// that blocks until a later one has run does not deadlock it. Workers
// take the next run once theirs is done, and end once idle for their idle
// time.
func TestWorkerDispatcher(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newWorkerDispatcher(tables.StageFeatures, time.Second)
		second := make(chan struct{})
		done := make(chan struct{}, 3)
		d.Schedule(func() {
			<-second // blocks its worker until the next run has run
			done <- struct{}{}
		})
		d.Schedule(func() {
			close(second)
			done <- struct{}{}
		})
		<-done
		<-done
		synctest.Wait() // both workers are idle
		var ran string
		d.Schedule(func() { // taken by an idle worker
			ran = "third"
			done <- struct{}{}
		})
		<-done
		if ran != "third" {
			t.Fatal("the third run did not run")
		}
		// The workers end once idle for a second: move the bubble's clock
		// past it; synctest.Test fails if any goroutine is left.
		time.Sleep(2 * time.Second)
		synctest.Wait()
	})
}

// stop returns once the workers' runs returned (and the idle ones ended);
// what is scheduled after it still runs.
func TestWorkerDispatcherStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newWorkerDispatcher(tables.StageFeatures, time.Hour)
		release, done := make(chan struct{}), make(chan string, 2)
		d.Schedule(func() { done <- "idle" })
		<-done
		d.Schedule(func() { // the idle worker takes it, and stays busy
			<-release
			done <- "busy"
		})
		stopped := make(chan struct{})
		go func() {
			d.stop(context.Background())
			close(stopped)
		}()
		synctest.Wait()
		select {
		case <-stopped:
			t.Fatal("stop returned while a worker ran")
		default:
		}
		close(release)
		<-done
		<-stopped
		d.Schedule(func() { done <- "after" })
		if got := <-done; got != "after" {
			t.Fatalf("ran %q", got)
		}
	})
}
