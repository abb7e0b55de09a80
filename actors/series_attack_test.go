package actors_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/features"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/tables"
)

// A state written by the previous version keeps one window per metric,
// fed by every tag set of it (here core 1, always at 100). After the
// upgrade the first sample of the metric, of core 0 at 10, takes that
// window over: core 0 then reads core 1's samples as its own and fires
// HighCPU (avg > 90) with core="0" among its labels, though core 0 never
// went above 10.
func TestALegacyWindowIsNotTakenOverByAnotherSeries(t *testing.T) {
	h := openPartition(t, actors.SourcesOptions{}, true)
	rs, err := rules.Parse("test.yml", []byte(sourceRules), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := rs.FeatureConfig("cpu_load")
	now := h.clock.Now()
	ser := features.NewSeries(cfg)
	for i := 10; i >= 1; i-- {
		if _, err := ser.Add(now.Add(-time.Duration(i)*time.Second).UnixMilli(), 100); err != nil {
			t.Fatal(err)
		}
	}
	old := &tables.SourceState{Rules: rs.Fingerprint(), Partition: 0, Offset: 0, OffsetMilli: now.Add(-time.Second).UnixMilli(),
		EventMilli: now.Add(-time.Second).UnixMilli(), ArrivalMilli: now.Add(-time.Second).UnixMilli(),
		Metrics: []tables.MetricState{{Name: "cpu_load", Unit: "percent", Series: ser, Untagged: true}}}
	b, err := old.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	h.table["acme/host-a"] = b
	h.mu.Unlock()

	h.deliver("host-a", 1, `cpu_load{core="0"}`, sampleAt{now, 10})
	h.waitDurable("acme/host-a", 1)
	for _, tr := range transitionsOf(t, h, "HighCPU") {
		if tr.Tags["core"] == "0" && tr.State == rules.StateFiring {
			t.Fatalf("core 0 (one sample, 10) fired HighCPU at %v: it took over the old window of the whole metric", tr.Value)
		}
	}
}

// A state of the previous version holds HighCPU firing for the metric
// (its one window, at 100). After the upgrade the metric comes tagged
// (core 1, still at 100): the alert that was firing goes on firing. It
// must not resolve (series_gone) and fire again as a new episode, which
// tells every receiver twice of an alert that never stopped.
func TestALegacyFiringAlertGoesOnForItsSeries(t *testing.T) {
	h := openPartition(t, actors.SourcesOptions{}, true)
	rs, err := rules.Parse("test.yml", []byte(sourceRules), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := rs.FeatureConfig("cpu_load")
	now := h.clock.Now()
	ser := features.NewSeries(cfg)
	var lc rules.Lifecycle
	var feats rules.SourceFeatures
	feats.Set("cpu_load", nil, ser)
	for i := 10; i >= 1; i-- {
		at := now.Add(-time.Duration(i) * time.Second).UnixMilli()
		if _, err := ser.Add(at, 100); err != nil {
			t.Fatal(err)
		}
		rs.AdvanceAt(&lc, rules.Source{Tenant: "acme", Host: "host-a"}, &feats, at, "cpu_load", nil)
	}
	if len(lc.Alerts) != 1 || lc.Alerts[0].Phase != rules.Firing {
		t.Fatalf("the old state has no firing alert: %+v", lc.Alerts)
	}
	old := &tables.SourceState{Rules: rs.Fingerprint(), Partition: 0, Offset: 0, OffsetMilli: now.Add(-time.Second).UnixMilli(),
		EventMilli: now.Add(-time.Second).UnixMilli(), ArrivalMilli: now.Add(-time.Second).UnixMilli(),
		Metrics:   []tables.MetricState{{Name: "cpu_load", Unit: "percent", Series: ser, Untagged: true}},
		Lifecycle: lc}
	b, err := old.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	h.table["acme/host-a"] = b
	h.mu.Unlock()

	h.deliver("host-a", 1, `cpu_load{core="1"}`, sampleAt{now, 100})
	h.waitDurable("acme/host-a", 1)
	var got []string
	for _, tr := range transitionsOf(t, h, "HighCPU") {
		got = append(got, tr.State+" "+tr.Reason+" "+tr.Tags["core"])
	}
	if len(got) != 0 {
		t.Fatalf("an alert firing before the upgrade and still true after it sent %q", got)
	}
}

// A source whose series carry many long tags (64 tags of 200-byte keys
// and 256-byte values, within the ingest limits) and fire an alert each
// keeps the tags twice: in the series and in the alert state. Shedding
// series to stay under MaxStateBytes drops the series but not their alert
// states, so the state written is still over the bound (and, at the
// default bound, over what the broker accepts: the state never becomes
// durable).
func TestAStateWithLongTagsStaysUnderItsBound(t *testing.T) {
	const bound = 64 << 10
	h := openPartition(t, actors.SourcesOptions{MaxStateBytes: bound}, false)
	now := h.clock.Now()
	sig := &tables.Signal{Tenant: "acme", Host: "host-a", Origin: tables.Origin{Partition: -1}, IngestMicro: now.UnixMicro()}
	for s := range 4 {
		var tags tables.Tags
		for k := range 64 {
			key := fmt.Sprintf("k%02d", k) + strings.Repeat("k", 197)
			tags = append(tags, tables.Tag{Key: key, Value: fmt.Sprintf("%d", s) + strings.Repeat("v", 255)})
		}
		sig.Samples = append(sig.Samples, tables.Sample{Metric: "cpu_load", Unit: "percent", Value: 99, TsMicro: now.UnixMicro(), Tags: tags})
	}
	h.part.Deliver(sig.Key(), 0, now.UnixMilli(), sig, h.stored(sig.Key()))
	h.waitDurable("acme/host-a", 0)
	for _, r := range h.broker.topic(string(tables.FeaturesTable)) {
		if len(r.Value) > bound {
			t.Fatalf("a state of %d bytes was written (bound %d)", len(r.Value), bound)
		}
	}
}

// The metric column of an alert row names the metric the rule read; for
// a rule with a selector it is the selector cut at its first comma.
func TestTheAlertRowOfASelectorRuleNamesItsMetric(t *testing.T) {
	tr := &rules.Transition{AlertName: "Root", State: rules.StateFiring,
		Features: map[string]rules.Float{`avg(disk_used_pct{env="prod",mount="/"},5m)`: 95}}
	if got := actors.AlertRow(tr, nil).Metric; got != "disk_used_pct" {
		t.Fatalf("metric %q, want disk_used_pct", got)
	}
}
