package actors

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// An actor blocked retrying a write for an hour has at most one tick in its
// mailbox, not one per ticker period.
func TestWriterTicksDoNotPileUpBehindABlockedActor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		w := &Writer[int]{opts: WriterOptions{FlushInterval: 100 * time.Millisecond}}
		var sent atomic.Int32
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			w.tick(ctx, func() { sent.Add(1) })
		}()
		time.Sleep(time.Hour)
		synctest.Wait()
		if got := sent.Load(); got != 1 {
			t.Fatalf("%d ticks queued for a blocked actor, want 1", got)
		}
		// The actor takes its tick: the next one is sent.
		w.tickQueued.Store(false)
		time.Sleep(time.Second)
		synctest.Wait()
		if got := sent.Load(); got != 2 {
			t.Fatalf("%d ticks sent, want 2", got)
		}
		cancel()
		<-stopped
	})
}
