package actors_test

import (
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
