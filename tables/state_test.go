package tables

import (
	"encoding/hex"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/eventops/eventops/features"
	"github.com/eventops/eventops/rules"
)

func defaultCfg(string) features.Config { return features.DefaultConfig() }

func sampleState(t testing.TB) *SourceState {
	st := &SourceState{Generation: 4, Epoch: 1761040000000, Rules: 77, NextDeadline: 1761040920000, Partition: 3, Offset: 42, OffsetMilli: 1761040800400,
		EventMilli: 1761040800000, ArrivalMilli: 1761040800500,
		Meta: &SourceMeta{Owner: "o", Tags: map[string]string{"k": "v"}}}
	st.MarkOrigin(Origin{Partition: 5, Offset: 9}, 900)
	st.MarkOrigin(Origin{Partition: 1, Offset: 7}, 700)
	st.MarkOrigin(Origin{Partition: 5, Offset: 3}, 300) // lower and older: ignored
	for _, name := range []string{"mem", "cpu"} {
		ser := features.NewSeries(features.DefaultConfig())
		for i := 0; i < 50; i++ {
			if _, err := ser.Add(1761040800000+int64(i)*1000, float64(i)); err != nil {
				t.Fatal(err)
			}
		}
		st.AddMetric(MetricState{Name: name, Unit: "percent", Series: ser})
	}
	st.AddMetric(MetricState{Name: "cpu", Tags: Tags{{Key: "core", Value: "1"}}, Series: features.NewSeries(features.DefaultConfig())})
	st.Alerts.Set(rules.RuleID(7), rules.State{Phase: rules.Firing, ActiveSince: 1, FiringSince: 2, Value: 92, Episode: 5})
	return st
}

func TestSourceStateRoundTrip(t *testing.T) {
	st := sampleState(t)
	b, err := st.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	got, reset, err := DecodeSourceState(b, defaultCfg)
	if err != nil || len(reset) != 0 {
		t.Fatal(err, reset)
	}
	again, _ := got.AppendBinary(nil)
	if string(again) != string(b) {
		t.Fatal("re-encoding differs")
	}
	if got.Metrics[0].Name != "cpu" || got.Offset != 42 || got.OffsetMilli != st.OffsetMilli || got.Generation != 4 ||
		got.Epoch != st.Epoch || got.Rules != 77 ||
		got.NextDeadline != st.NextDeadline || !reflect.DeepEqual(got.Origins, []OriginMark{{1, 7, 700}, {5, 9, 900}}) {
		t.Fatalf("decoded %+v", got)
	}
	if !got.SeenOrigin(Origin{Partition: 5, Offset: 9}, 900) || !got.SeenOrigin(Origin{Partition: 5, Offset: 4}, 400) ||
		got.SeenOrigin(Origin{Partition: 5, Offset: 10}, 1000) ||
		got.SeenOrigin(Origin{Partition: 2, Offset: 0}, 0) || got.SeenOrigin(Origin{Partition: -1, Offset: 0}, 0) {
		t.Fatal("SeenOrigin")
	}
	h, err := DecodeStateHeader(b)
	if err != nil || h != (StateHeader{Generation: 4, Epoch: st.Epoch, Rules: st.Rules, NextDeadline: st.NextDeadline, HasAlerts: true, Version: stateVersion}) {
		t.Fatalf("header %+v %v", h, err)
	}
	w, ok := got.Metric("mem").Series.Window(time.Minute)
	if !ok || w.Count != 50 {
		t.Fatalf("window %+v", w)
	}
}

// The alert lifecycle keeps the source time of its last evaluation and the
// identity of each alert's rule; a state stored before them (alert states
// in their version 1 encoding) still decodes, without the time.
func TestSourceStateAlertLifecycle(t *testing.T) {
	rs, err := rules.Parse("r.yml", []byte("groups: [{name: g, rules: [{alert: Always, expr: '1 > 0'}]}]"), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := &SourceState{Partition: 1, Offset: 2}
	const at = int64(1761040801000)
	rs.AdvanceAt(&st.Lifecycle, rules.Source{Tenant: "t", Host: "h"}, &rules.SourceFeatures{}, at, "", nil)
	b, err := st.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := DecodeSourceState(b, defaultCfg)
	if err != nil {
		t.Fatal(err)
	}
	if ev, ok := got.Evaluated(); !ok || ev != at || len(got.Alerts) != 1 || got.Alerts[0].Phase != rules.Firing ||
		got.Alerts[0].Identity == nil || got.Alerts[0].Identity.Name != "Always" {
		t.Fatalf("decoded %+v", got.Lifecycle)
	}

	// Version 1 alert states (one firing alert of rule 7) in place of the
	// blob of an empty lifecycle.
	empty, _ := (&SourceState{Partition: 1, Offset: 2}).AppendBinary(nil)
	blob, _ := (&rules.Lifecycle{}).AppendBinary(nil)
	v1 := []byte{1, 1, 0, 0, 0, 0, 0, 0, 0, 7, 0x02 | 0x08 | 0x40 | 0x80, 2, 2, 0x40, 0x57, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5}
	old := appendString(empty[:len(empty)-1-len(blob)], string(v1))
	got, _, err = DecodeSourceState(old, defaultCfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Evaluated(); ok || len(got.Alerts) != 1 || got.Alerts[0].Rule != 7 || got.Alerts[0].Value != 92 || got.Alerts[0].Episode != 5 {
		t.Fatalf("version 1 alert states decoded as %+v", got.Lifecycle)
	}
}

// A series that no longer decodes under its metric's configuration starts
// afresh; the rest of the state survives.
func TestSourceStateResetsSeriesOfAChangedConfig(t *testing.T) {
	b, _ := sampleState(t).AppendBinary(nil)
	counter := func(m string) features.Config {
		c := features.DefaultConfig()
		c.Counter = m == "cpu"
		return c
	}
	got, reset, err := DecodeSourceState(b, counter)
	if err != nil || !reflect.DeepEqual(reset, []string{"cpu"}) {
		t.Fatalf("reset %v err %v", reset, err)
	}
	if _, ok := got.Metric("cpu").Series.Window(time.Minute); ok {
		t.Fatal("the reset series has data")
	}
	if w, _ := got.Metric("mem").Series.Window(time.Minute); w.Count != 50 {
		t.Fatal("the other series lost data")
	}
}

func FuzzDecodeSourceState(f *testing.F) {
	b, _ := sampleState(f).AppendBinary(nil)
	f.Add(b)
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		st, _, err := DecodeSourceState(data, defaultCfg)
		if err != nil {
			return
		}
		if _, err := st.AppendBinary(nil); err != nil {
			t.Fatal(err)
		}
	})
}

// A raw topic that was recreated (or whose offsets started again) writes
// records at offsets the marks already passed; their timestamps are newer
// than the marks', so they are new, and the mark follows the new log.
func TestOriginMarksFollowARecreatedLog(t *testing.T) {
	st := &SourceState{}
	st.MarkOrigin(Origin{Partition: 2, Offset: 1_000_000}, 5_000)
	if !st.SeenOrigin(Origin{Partition: 2, Offset: 999_000}, 4_000) {
		t.Fatal("a replayed record of the old log is not recognised")
	}
	fresh := Origin{Partition: 2, Offset: 10}
	if st.SeenOrigin(fresh, 9_000) {
		t.Fatal("a record of the new log is taken for a replay")
	}
	st.MarkOrigin(fresh, 9_000)
	if !st.SeenOrigin(Origin{Partition: 2, Offset: 9}, 8_500) || st.SeenOrigin(Origin{Partition: 2, Offset: 11}, 9_100) {
		t.Fatalf("the mark does not follow the new log: %+v", st.Origins)
	}
}

// The same holds for the signals topic the state's offset refers to.
func TestRedeliveredNeedsTheSameLog(t *testing.T) {
	st := &SourceState{Partition: 1, Offset: 500, OffsetMilli: 10_000}
	switch {
	case !st.Redelivered(1, 400, 9_000):
		t.Fatal("an earlier record of the same log is not a redelivery")
	case st.Redelivered(1, 400, 11_000):
		t.Fatal("a record of a recreated log is taken for a redelivery")
	case st.Redelivered(2, 400, 9_000):
		t.Fatal("another partition's record is taken for a redelivery")
	}
}

// A flush that lands after a newer owner's (a zombie write) does not
// replace it.
func TestStoreIsNewerKeepsTheLaterGeneration(t *testing.T) {
	enc := func(gen int64) []byte {
		b, err := (&SourceState{Generation: gen, Epoch: 1000 * gen}).AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	switch {
	case !StoreIsNewer(enc(7), enc(6)):
		t.Fatal("an older generation replaces a newer one")
	case StoreIsNewer(enc(7), enc(7)), StoreIsNewer(enc(7), enc(8)), StoreIsNewer(nil, enc(1)):
		t.Fatal("a write of the same or a later generation is kept out")
	case StoreIsNewer([]byte{9}, enc(1)), StoreIsNewer(enc(3), []byte{0xff}):
		t.Fatal("an undecodable value blocks a write")
	}
}

// A state written by the previous encoding still decodes; what it did not
// keep is read conservatively (offsets alone decide, a deadline is assumed).
func TestLegacyStateDecodes(t *testing.T) {
	b := []byte{stateVersion1}
	for _, v := range []int64{3, 42, 1761040800000, 1761040800500} { // partition, offset, event, arrival
		b = appendVarint(b, v)
	}
	b = appendOptionalMeta(b, nil)
	b = appendUvarint(b, 1)
	b = appendVarint(b, 5)
	b = appendVarint(b, 9)
	b = appendUvarint(b, 0) // metrics
	alerts, _ := (&rules.Lifecycle{}).AppendBinary(nil)
	b = appendString(b, string(alerts))
	st, _, err := DecodeSourceState(b, defaultCfg)
	if err != nil {
		t.Fatal(err)
	}
	if st.Offset != 42 || st.EventMilli != 1761040800000 || !st.Redelivered(3, 42, 1<<50) || !st.SeenOrigin(Origin{5, 9}, 1<<50) {
		t.Fatalf("legacy state %+v", st)
	}
	if h, err := DecodeStateHeader(b); err != nil || !h.Legacy || h.NextDeadline == 0 || !h.HasAlerts {
		t.Fatalf("legacy header %+v %v", h, err)
	}
}

// A group that started again counts generations from 1, but its sessions
// start later: its states are newer than those of the group before.
func TestStoreIsNewerAfterTheGroupStartedAgain(t *testing.T) {
	before, _ := (&SourceState{Generation: 9, Epoch: 1_000}).AppendBinary(nil)
	after, _ := (&SourceState{Generation: 1, Epoch: 5_000}).AppendBinary(nil)
	if StoreIsNewer(before, after) {
		t.Fatal("a state of the restarted group is kept out")
	}
}

// A state written by the version that kept one series per metric (version
// 2: two metrics of 60 samples and a firing alert) decodes with its series
// Untagged; a sample of the metric without tags takes its series over with
// its windows (a sample with tags does not: the window mixes the metric's
// tag sets), and the state re-encodes as the current version.
func TestVersion2StateKeepsItsWindows(t *testing.T) {
	raw, err := os.ReadFile("testdata/state-v2.hex")
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	st, reset, err := DecodeSourceState(b, defaultCfg)
	if err != nil || len(reset) != 0 {
		t.Fatal(err, reset)
	}
	if len(st.Metrics) != 2 || !st.Metrics[0].Untagged || st.Metric("cpu_load") != nil || len(st.Alerts) != 1 ||
		st.Alerts[0].Identity == nil || st.Alerts[0].Series != nil {
		t.Fatalf("decoded %+v", st)
	}
	// A series with tags does not take the window over.
	if ms, adopted := st.FindSeries("cpu_load", Tags{{Key: "core", Value: "1"}}); ms != nil || adopted {
		t.Fatalf("a series with tags takes over %+v", ms)
	}
	ms, adopted := st.FindSeries("cpu_load", nil)
	if !adopted || ms == nil || ms.Untagged || len(ms.Tags) != 0 {
		t.Fatalf("take-over %+v %v", ms, adopted)
	}
	if w, ok := ms.Series.Window(time.Minute); !ok || w.Count != 60 {
		t.Fatalf("the taken-over series has window %+v", w)
	}
	if st.DropUntagged("cpu_load") || !st.DropUntagged("mem") || len(st.Metrics) != 1 {
		t.Fatalf("dropping the series of unknown tags: %+v", st.Metrics)
	}
	st.AddMetric(MetricState{Name: "mem", Series: features.NewSeries(features.DefaultConfig()), Untagged: true})
	again, err := st.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := DecodeSourceState(again, defaultCfg)
	if err != nil || got.Metric("cpu_load") == nil || !got.Metrics[1].Untagged || got.Metrics[1].Name != "mem" {
		t.Fatalf("re-decoded %+v %v", got, err)
	}
	if h, _ := DecodeStateHeader(again); h.Version != stateVersion {
		t.Fatalf("written as version %d", h.Version)
	}
}

// Series of one metric that differ in their tags are kept apart, in tag
// order, and survive encoding.
func TestSeriesOfOneMetric(t *testing.T) {
	st := &SourceState{}
	for _, core := range []string{"1", "0"} {
		ser := features.NewSeries(features.DefaultConfig())
		ser.Add(1000, 1)
		st.AddMetric(MetricState{Name: "cpu_load", Tags: Tags{{Key: "core", Value: core}}, Series: ser})
	}
	st.AddMetric(MetricState{Name: "cpu_load", Series: features.NewSeries(features.DefaultConfig())})
	b, err := st.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := DecodeSourceState(b, defaultCfg)
	if err != nil || len(got.Metrics) != 3 || got.Metrics[0].Tags != nil || got.Metrics[1].Tags[0].Value != "0" ||
		got.Metrics[2].Tags[0].Value != "1" || got.Metric("cpu_load") != &got.Metrics[0] {
		t.Fatalf("decoded %+v %v", got.Metrics, err)
	}
}
