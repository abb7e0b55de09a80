package replica

import (
	"context"
	"errors"
)

// The steps of a shutdown, in order. The first, stepStages, is over when
// every stage's goroutine has returned: intake stopped, the processors
// finished their callbacks, deferred commits were released and the
// features stage flushed its sources' states.
const (
	stepStages      = "stages stopped"
	stepWriters     = "writers drained"
	stepProducers   = "producers flushed"
	stepActors      = "actors stopped"
	stepConnections = "connections closed"
)

// shutdown runs once the stages have stopped: the sink's writers drain
// (their rows, and the DLQ records of rows refused, are written), the
// producers flush what they hold (writers and actors produce), the actors
// stop, and the connections close. Writers and producers have
// Options.Shutdown each.
func (w *wiring) shutdown() error {
	var errs []error
	if w.sink != nil {
		w.stopWriters()
		errs = append(errs, <-w.writers)
	}
	w.step(stepWriters)
	fctx, cancel := context.WithTimeout(context.Background(), w.opts.Shutdown)
	defer cancel()
	for _, p := range w.producers() {
		errs = append(errs, p.Flush(fctx))
	}
	w.step(stepProducers)
	w.system.Shutdown()
	w.step(stepActors)
	w.closeConnections()
	w.step(stepConnections)
	return errors.Join(errs...)
}
