package actors

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/eventops/eventops/internal/stagelabel"
	"github.com/eventops/eventops/tables"
)

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

// The dispatchers of the stages that run actors.
var (
	featuresDispatcher = stageDispatcher{stagelabel.For(tables.StageFeatures)}
	sinkDispatcher     = stageDispatcher{stagelabel.For(tables.StageSink)}
	notifyDispatcher   = stageDispatcher{stagelabel.For(tables.StageNotify)}
)

// props returns the props of an actor of a stage.
func props(d stageDispatcher, a actor.Actor) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return a }, actor.WithDispatcher(d))
}
