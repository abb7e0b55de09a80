package stagelabel

import (
	"context"
	"runtime/pprof"
)

// Key is the profiler label that holds the stage's name.
const Key = "stage"

// Do runs f with the calling goroutine labelled with stage (and every
// goroutine f starts, which inherit it), then restores its labels.
func Do(ctx context.Context, stage string, f func(context.Context)) {
	pprof.Do(ctx, pprof.Labels(Key, stage), f)
}

// Run is Do for a function that returns an error.
func Run(ctx context.Context, stage string, f func(context.Context) error) error {
	var err error
	Do(ctx, stage, func(ctx context.Context) { err = f(ctx) })
	return err
}

// Labels is a label set to put on goroutines as they start (Set): made
// once, so that setting it costs a pointer store.
type Labels struct{ ctx context.Context }

// For returns the labels of stage.
func For(stage string) Labels {
	return Labels{pprof.WithLabels(context.Background(), pprof.Labels(Key, stage))}
}

// Set labels the calling goroutine, replacing its labels: call it first
// thing in a goroutine that works for the stage.
func (l Labels) Set() {
	if l.ctx != nil {
		pprof.SetGoroutineLabels(l.ctx)
	}
}
