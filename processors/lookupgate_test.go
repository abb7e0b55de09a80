package processors

import (
	"sync"
	"testing"
)

// The gate stands between the ingest callbacks' lookups and goka closing
// the lookup view: the close (here, writing view) must come after every
// read that entered, which the race detector checks, and no read may
// enter after it.
func TestLookupGateOrdersReadsBeforeTheClose(t *testing.T) {
	var g lookupGate
	g.open()
	view := map[string]int{"acme/host-a": 1}
	var wg sync.WaitGroup
	entered := make(chan struct{}, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if !g.enter() {
					return
				}
				_ = view["acme/host-a"]
				g.leave()
				select {
				case entered <- struct{}{}:
				default:
				}
			}
		}()
	}
	<-entered
	g.close()
	view = nil // what goka's close does to the view's partitions
	wg.Wait()
	if g.enter() {
		t.Fatal("a read entered a closed gate")
	}
	g.open()
	if !g.enter() {
		t.Fatal("a gate opened again (the stage run again) refused a read")
	}
	g.leave()
}
