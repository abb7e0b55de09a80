package actors_test

import (
	"testing"
	"time"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/tables"
)

// The transition a sample makes names, in its explanation, the raw record
// the sample came in: the signal's origin, noted by the source actor as it
// applies the sample.
func TestATransitionNamesTheRawRecordOfItsSample(t *testing.T) {
	h := openPartition(t, actors.SourcesOptions{Rules: evictHolder(t)}, false)
	now := h.clock.Now()
	sig := &tables.Signal{Tenant: "acme", Host: "host-a", Origin: tables.Origin{Partition: 7, Offset: 321}, IngestMicro: now.UnixMicro(),
		Samples: []tables.Sample{{Metric: "mem_used_pct", Value: 99, TsMicro: now.UnixMicro()}}}
	h.part.Deliver(sig.Key(), 0, now.UnixMilli(), sig, h.stored(sig.Key()))
	h.waitDurable(sig.Key(), 0)
	var fired *rules.Transition
	for _, r := range h.broker.topic(tables.AlertsTopic) {
		if tr, err := tables.DecodeAlert(r.Value); err == nil && tr.State == rules.StateFiring {
			fired = tr
		}
	}
	if fired == nil || fired.Explanation == nil {
		t.Fatalf("no firing transition with an explanation: %+v", fired)
	}
	e := fired.Explanation
	want := rules.SampleOrigin{Topic: tables.RawTopic, Partition: 7, Offset: 321}
	if len(e.Samples) != 1 || e.Samples[0].Value != 99 || e.Samples[0].At.Time() != now.Truncate(time.Millisecond).UTC() ||
		e.Samples[0].Origin == nil || *e.Samples[0].Origin != want {
		t.Fatalf("samples %+v, want the sample from %+v", e.Samples, want)
	}
	if len(e.Features) != 1 || e.Features[0].Feature != "max(mem_used_pct,15m)" || e.Features[0].Value != 99 ||
		e.Features[0].Samples == nil || *e.Features[0].Samples != 1 {
		t.Fatalf("features %+v", e.Features)
	}
}
