package actors_test

import (
	"testing"
	"time"

	"github.com/eventops/eventops/actors"
)

// An event is identified by its source, its metric and its event time, the
// key of its row in PostgreSQL, which keeps event times to the
// microsecond. Two events of one metric 300 µs apart are two rows there;
// the source's windows must count both too, not take the second for a
// resend of the first.
func TestTwoEventsOfAMillisecondAreTwoSamples(t *testing.T) {
	h := openPartition(t, actors.SourcesOptions{}, false)
	at := h.clock.Now().Add(-time.Second).Truncate(time.Millisecond)
	h.deliver("host-a", 0, "cpu_load", sampleAt{at, 10}, sampleAt{at.Add(300 * time.Microsecond), 30})
	h.waitDurable("acme/host-a", 0)
	st := h.broker.lastState(t, "acme/host-a")
	if w, ok := st.Metric("cpu_load").Series.Window(time.Minute); !ok || w.Count != 2 || w.Sum != 40 {
		t.Fatalf("window %+v after two events 300µs apart (PostgreSQL keeps both rows)", w)
	}
}
