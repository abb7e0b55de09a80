package actors

import (
	"context"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/eventops/eventops/internal/stagelabel"
	"github.com/eventops/eventops/tables"
)

// workerIdle is how long a worker of a workerDispatcher waits for more
// work before it ends.
const workerIdle = 2 * time.Second

// throughput is how many messages a mailbox goroutine processes before it
// yields, protoactor's default.
const throughput = 300

// stageDispatcher starts each mailbox goroutine with its stage's profiler
// label. protoactor's default dispatcher runs a mailbox on a goroutine
// started by whoever posted to it while it was idle, which inherits the
// poster's labels (a stage's callback, a timer, a producer's callback):
// without this, an actor's CPU time would land on whichever stage last
// woke it.
type stageDispatcher struct{ labels stagelabel.Labels }

func (d stageDispatcher) Schedule(fn func()) {
	go func() {
		d.labels.Set()
		fn()
	}()
}

func (stageDispatcher) Throughput() int { return throughput }

// The dispatchers of the stages whose actors get a few messages a batch.
var (
	sinkDispatcher   = stageDispatcher{stagelabel.For(tables.StageSink)}
	notifyDispatcher = stageDispatcher{stagelabel.For(tables.StageNotify)}
)

// props returns the props of an actor run by d.
func props(d actor.Dispatcher, a actor.Actor) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return a }, actor.WithDispatcher(d))
}

// workerDispatcher runs mailboxes on goroutines that stay for more work
// once a mailbox is drained, labelled once with their stage. Per-source
// actors get a message per record and drain it at once, so with a
// goroutine per mailbox run (protoactor's dispatcher) every record paid for
// a new goroutine and for growing its stack to what a source's evaluation
// needs. Schedule never waits: when no worker is idle it starts one, so a
// mailbox run never waits behind another (which may be blocked), and the
// number of workers follows the number of mailboxes running at once. A
// worker idle for idle ends; stop ends them all.
type workerDispatcher struct {
	labels stagelabel.Labels
	work   chan func()
	idle   time.Duration
	quit   chan struct{}

	mu      sync.Mutex
	stopped bool
	workers sync.WaitGroup
}

func newWorkerDispatcher(stage string, idle time.Duration) *workerDispatcher {
	return &workerDispatcher{labels: stagelabel.For(stage), work: make(chan func()), idle: idle, quit: make(chan struct{})}
}

func (d *workerDispatcher) Schedule(fn func()) {
	select {
	case d.work <- fn: // an idle worker takes it
		return
	default:
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		// What runs after stop (a stopped actor's last messages) runs
		// on a goroutine of its own.
		go func() {
			d.labels.Set()
			fn()
		}()
		return
	}
	d.workers.Add(1)
	go d.worker(fn)
}

func (*workerDispatcher) Throughput() int { return throughput }

func (d *workerDispatcher) worker(fn func()) {
	defer d.workers.Done()
	d.labels.Set()
	idle := time.NewTimer(d.idle)
	defer idle.Stop()
	for {
		fn()
		idle.Reset(d.idle)
		select {
		case fn = <-d.work:
		case <-idle.C:
			return
		case <-d.quit:
			return
		}
	}
}

// stop ends the workers once their mailbox runs return, and returns when
// they have, or when ctx ends.
func (d *workerDispatcher) stop(ctx context.Context) {
	d.mu.Lock()
	if !d.stopped {
		d.stopped = true
		close(d.quit)
	}
	d.mu.Unlock()
	done := make(chan struct{})
	go func() {
		d.workers.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}
