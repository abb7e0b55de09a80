package actors_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/features"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/kgotables"
)

// broker is a hand-written AsyncProducer: it keeps what it is given and
// answers from another goroutine, failing the records fail picks.
type broker struct {
	mu   sync.Mutex
	recs []*kgo.Record
	fail func(*kgo.Record) error
}

func (b *broker) Produce(_ context.Context, r *kgo.Record, promise func(*kgo.Record, error)) {
	b.mu.Lock()
	var err error
	if b.fail != nil {
		err = b.fail(r)
	}
	if err == nil {
		b.recs = append(b.recs, r)
	}
	b.mu.Unlock()
	go promise(r, err)
}

func (b *broker) setFail(f func(*kgo.Record) error) {
	b.mu.Lock()
	b.fail = f
	b.mu.Unlock()
}

func (b *broker) topic(topic string) []*kgo.Record {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*kgo.Record
	for _, r := range b.recs {
		if r.Topic == topic {
			out = append(out, r)
		}
	}
	return out
}

// lastState is the newest state of key written to the table.
func (b *broker) lastState(t *testing.T, key string) *tables.SourceState {
	t.Helper()
	var last []byte
	for _, r := range b.topic(tables.FeaturesTable) {
		if string(r.Key) == key {
			last = r.Value
		}
	}
	if last == nil {
		return nil
	}
	st, _, err := tables.DecodeSourceState(last, func(string) features.Config { return features.DefaultConfig() })
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// partitionHarness is one opened partition of a Sources, with what it
// reports.
type partitionHarness struct {
	t       *testing.T
	broker  *broker
	sources *actors.Sources
	part    *actors.SourcePartition
	clock   *wallClock

	mu      sync.Mutex
	durable map[string]int64
	table   map[string][]byte // the Store hook's copy of the table
}

type wallClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *wallClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *wallClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

const sourceRules = `
metrics:
  - {name: cpu_load, kind: gauge, unit: percent}
  - {name: mem_used_pct, kind: gauge, unit: percent}
groups:
  - name: host
    rules:
      - alert: HighCPU
        expr: avg("cpu_load", "1m") > 90
        labels: {severity: critical}
      - alert: MemNoData
        expr: seconds_since_last("mem_used_pct") > 120
        labels: {severity: warning}
`

// openPartition opens partition 0 of a Sources with sourceRules, unless
// opts brings its own rules.
func openPartition(t *testing.T, opts actors.SourcesOptions, store bool) *partitionHarness {
	t.Helper()
	rs, err := rules.Parse("test.yml", []byte(sourceRules), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := &partitionHarness{t: t, broker: &broker{}, durable: map[string]int64{}, table: map[string][]byte{},
		clock: &wallClock{now: time.Date(2025, 10, 21, 10, 0, 0, 0, time.UTC)}}
	system := actors.NewSystem(quiet)
	t.Cleanup(system.Shutdown)
	if opts.Rules == nil {
		opts.Rules = actors.NewRuleHolder(rs)
	}
	opts.Producer, opts.Logger, opts.Now = h.broker, quiet, h.clock.Now
	if opts.FlushInterval == 0 {
		opts.FlushInterval = 10 * time.Millisecond
	}
	h.sources = actors.NewSources(system, opts)
	hooks := actors.PartitionHooks{Generation: 3, HandBack: func(int64) {}, Durable: func(key string, off int64) {
		h.mu.Lock()
		if cur, ok := h.durable[key]; !ok || off > cur {
			h.durable[key] = off
		}
		h.mu.Unlock()
	}}
	if store {
		hooks.Store = func(key string, v []byte) {
			h.mu.Lock()
			h.table[key] = v
			h.mu.Unlock()
		}
	}
	h.part = h.sources.Open(0, hooks)
	return h
}

func (h *partitionHarness) stored(key string) func() []byte {
	return func() []byte {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.table[key]
	}
}

// deliver hands a signal of host read at offset, received at the wall
// clock's now, with samples of a series (cpu_load, or cpu_load{core="0"})
// at the given event times.
func (h *partitionHarness) deliver(host string, offset int64, series string, samples ...sampleAt) {
	metric, labels, err := rules.ParseSeries(series)
	if err != nil {
		h.t.Fatal(err)
	}
	var tags tables.Tags
	for _, l := range labels {
		tags = append(tags, tables.Tag{Key: l.Name, Value: l.Value})
	}
	sig := &tables.Signal{Tenant: "acme", Host: host, Origin: tables.Origin{Partition: -1}, IngestMicro: h.clock.Now().UnixMicro()}
	for _, s := range samples {
		sig.Samples = append(sig.Samples, tables.Sample{Metric: metric, Unit: "percent", Value: s.v, TsMicro: s.at.UnixMicro(), Tags: tags})
	}
	key := sig.Key()
	h.part.Deliver(key, offset, h.clock.Now().UnixMilli(), sig, h.stored(key))
}

type sampleAt struct {
	at time.Time
	v  float64
}

func (h *partitionHarness) waitDurable(key string, offset int64) {
	h.t.Helper()
	until(h.t, fmt.Sprintf("%s durable up to %d", key, offset), func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		d, ok := h.durable[key]
		return ok && d >= offset
	})
}

// until polls cond until it holds (see waitFor).
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitFor(t, 20*time.Second, what, func() error {
		if !cond() {
			return errors.New("not yet")
		}
		return nil
	})
}

func reasons(recs []*kgo.Record) map[string]int {
	out := map[string]int{}
	for _, r := range recs {
		out[kgotables.Header(r, tables.HeaderReason)]++
	}
	return out
}

// One sample from a clock 50 minutes ahead neither makes the metric's
// on-time samples late nor moves the source's clock: it is refused with
// reason future, and a no-data rule over another metric does not fire.
func TestASkewedSampleDoesNotPoisonItsSource(t *testing.T) {
	h := openPartition(t, actors.SourcesOptions{}, false)
	now := h.clock.Now()
	h.deliver("host-a", 0, "mem_used_pct", sampleAt{now.Add(-time.Second), 40})
	h.deliver("host-a", 1, "cpu_load", sampleAt{now.Add(50 * time.Minute), 99})
	for i := int64(2); i < 5; i++ {
		h.clock.Add(10 * time.Second)
		h.deliver("host-a", i, "cpu_load", sampleAt{h.clock.Now().Add(-time.Second), 20})
		h.deliver("host-a", i+10, "mem_used_pct", sampleAt{h.clock.Now().Add(-time.Second), 40})
	}
	h.waitDurable("acme/host-a", 14)
	if got := reasons(h.broker.topic(tables.DLQTopic)); got["future"] != 1 || len(got) != 1 {
		t.Fatalf("refused samples by reason: %v", got)
	}
	for _, r := range h.broker.topic(tables.AlertsTopic) {
		t.Errorf("unexpected alert %s", r.Value)
	}
	st := h.broker.lastState(t, "acme/host-a")
	if w, ok := st.Metric("cpu_load").Series.Window(time.Minute); !ok || w.Count != 3 || w.Max != 20 {
		t.Fatalf("cpu window %+v", w)
	}
	if clock := time.UnixMilli(st.EventMilli); clock.After(h.clock.Now()) {
		t.Fatalf("the source clock %s is ahead of the wall clock %s", clock, h.clock.Now())
	}
}

// A transition whose record the broker refuses is written again until it
// is accepted; until then the state is not flushed, so the input that
// caused it is not acknowledged.
func TestAFailedAlertWriteIsRetriedBeforeTheStateMovesOn(t *testing.T) {
	h := openPartition(t, actors.SourcesOptions{}, false)
	var mu sync.Mutex
	failing, failures := true, 0
	h.broker.setFail(func(r *kgo.Record) error {
		mu.Lock()
		defer mu.Unlock()
		if r.Topic == tables.AlertsTopic && failing {
			failures++
			return kerr.MessageTooLarge
		}
		return nil
	})
	now := h.clock.Now()
	h.deliver("host-a", 0, "cpu_load", sampleAt{now, 95}, sampleAt{now.Add(time.Second), 97})
	// While the record fails, nothing is durable and no state says firing.
	until(t, "three attempts", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return failures >= 3
	})
	if st := h.broker.lastState(t, "acme/host-a"); st != nil {
		t.Fatalf("the state was flushed while its alert record failed: %+v", st.Alerts)
	}
	h.mu.Lock()
	_, acked := h.durable["acme/host-a"]
	h.mu.Unlock()
	if acked {
		t.Fatal("the input was acknowledged while its alert record failed")
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	h.waitDurable("acme/host-a", 0)
	alerts := h.broker.topic(tables.AlertsTopic)
	if len(alerts) != 1 {
		t.Fatalf("%d alert records", len(alerts))
	}
	var tr rules.Transition
	if err := json.Unmarshal(alerts[0].Value, &tr); err != nil || tr.State != "firing" {
		t.Fatalf("transition %s: %v", alerts[0].Value, err)
	}
	if st := h.broker.lastState(t, "acme/host-a"); st == nil || len(st.Alerts) != 1 {
		t.Fatal("the firing state was not flushed once its record was written")
	}
}

// A source keeps features of at most MaxSeries series, whatever metrics
// they are of: the samples of more go to the DLQ with reason series_limit
// and the state stays bounded; the series it has keep working.
func TestASourceKeepsABoundedNumberOfSeries(t *testing.T) {
	h := openPartition(t, actors.SourcesOptions{MaxSeries: 3}, false)
	now := h.clock.Now()
	for i := range 5 {
		h.deliver("host-a", int64(i), fmt.Sprintf(`cpu_load{core="%d"}`, i), sampleAt{now, 1})
	}
	h.deliver("host-a", 5, `cpu_load{core="0"}`, sampleAt{now.Add(time.Second), 2})
	h.waitDurable("acme/host-a", 5)
	if got := reasons(h.broker.topic(tables.DLQTopic)); got["series_limit"] != 2 || len(got) != 1 {
		t.Fatalf("refused by reason %v", got)
	}
	st := h.broker.lastState(t, "acme/host-a")
	if len(st.Metrics) != 3 {
		t.Fatalf("the state keeps %d series", len(st.Metrics))
	}
	if w, _ := st.Series("cpu_load", tables.Tags{{Key: "core", Value: "0"}}).Series.Window(time.Minute); w.Count != 2 {
		t.Fatalf("an existing series did not take its sample: %+v", w)
	}
}

// The sources of a tenant keep at most MaxTenantSeries series together.
func TestATenantKeepsABoundedNumberOfSeries(t *testing.T) {
	h := openPartition(t, actors.SourcesOptions{MaxTenantSeries: 3}, false)
	now := h.clock.Now()
	h.deliver("host-a", 0, `cpu_load{core="0"}`, sampleAt{now, 1})
	h.deliver("host-a", 1, `cpu_load{core="1"}`, sampleAt{now, 1})
	h.waitDurable("acme/host-a", 1)
	h.deliver("host-b", 2, `cpu_load{core="0"}`, sampleAt{now, 1})
	h.deliver("host-b", 3, `cpu_load{core="1"}`, sampleAt{now, 1})
	h.waitDurable("acme/host-b", 3)
	if got := reasons(h.broker.topic(tables.DLQTopic)); got["series_limit"] != 1 || len(got) != 1 {
		t.Fatalf("refused by reason %v", got)
	}
}

// However its series grow, a state is never written larger than
// MaxStateBytes: the series beyond it are shed and refused from then on.
func TestAStateNeverOutgrowsItsBound(t *testing.T) {
	const bound = 16 << 10
	h := openPartition(t, actors.SourcesOptions{MaxStateBytes: bound}, false)
	start := h.clock.Now()
	off := int64(0)
	// Dense full-precision series grow to several KiB each.
	for step := range 120 {
		for m := range 8 {
			var samples []sampleAt
			for k := range 10 {
				at := start.Add(time.Duration(step)*time.Second + time.Duration(k)*100*time.Millisecond)
				samples = append(samples, sampleAt{at, float64(step*1000+k) * 1.000123456789})
			}
			h.deliver("host-a", off, fmt.Sprintf("m%d", m), samples...)
			off++
		}
		h.clock.Add(time.Second)
		if step%10 == 9 {
			// Let the state be written, so that the bound is seen while
			// samples still come.
			h.waitDurable("acme/host-a", off-1)
		}
	}
	h.waitDurable("acme/host-a", off-1)
	for _, r := range h.broker.topic(tables.FeaturesTable) {
		if len(r.Value) > bound {
			t.Fatalf("a state of %d bytes was written (bound %d)", len(r.Value), bound)
		}
	}
	if got := reasons(h.broker.topic(tables.DLQTopic)); got["source_limit"] == 0 {
		t.Fatalf("nothing was refused: %v", got)
	}
}

// An idle source's actor leaves memory once everything it holds is in the
// table, and its next signal rebuilds it from there with nothing lost.
func TestAnIdleSourceLeavesMemoryAndComesBack(t *testing.T) {
	h := openPartition(t, actors.SourcesOptions{IdleTimeout: 50 * time.Millisecond}, true)
	now := h.clock.Now()
	h.deliver("host-a", 0, "cpu_load", sampleAt{now, 10})
	h.waitDurable("acme/host-a", 0)
	h.clock.Add(time.Minute)
	until(t, "the idle actor to leave", func() bool { return len(h.part.Keys()) == 0 })
	h.deliver("host-a", 1, "cpu_load", sampleAt{now.Add(10 * time.Second), 30})
	h.waitDurable("acme/host-a", 1)
	st := h.broker.lastState(t, "acme/host-a")
	if w, ok := st.Metric("cpu_load").Series.Window(time.Minute); !ok || w.Count != 2 || w.Avg != 20 {
		t.Fatalf("window after the comeback %+v", w)
	}
}

// After a rebalance only sources with a rule deadline get their actor
// back; the others wait in the table for their next signal.
func TestWakeStartsOnlySourcesWithADeadline(t *testing.T) {
	h := openPartition(t, actors.SourcesOptions{}, true)
	rs, err := rules.Parse("test.yml", []byte(sourceRules), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fp := rs.Fingerprint()
	idle, _ := (&tables.SourceState{Offset: 1, Rules: fp}).AppendBinary(nil)
	due, _ := (&tables.SourceState{Offset: 1, Rules: fp, NextDeadline: 1}).AppendBinary(nil)
	otherRules, _ := (&tables.SourceState{Offset: 1, Rules: fp + 1}).AppendBinary(nil)
	h.part.Wake("acme/idle", idle)
	h.part.Wake("acme/due", due)
	h.part.Wake("acme/stale", otherRules)
	keys := h.part.Keys()
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"acme/due", "acme/stale"}) {
		t.Fatalf("woken: %v", keys)
	}
	// The source woken for its rules alone leaves memory once evaluated.
	until(t, "the stale source to leave memory", func() bool {
		return !slices.Contains(h.part.Keys(), "acme/stale")
	})
}

// A signals log that started again (recreated topic) writes records at
// offsets the state already passed; they are newer, so they are applied.
func TestARecreatedLogIsNotTakenForARedelivery(t *testing.T) {
	h := openPartition(t, actors.SourcesOptions{}, false)
	now := h.clock.Now()
	h.deliver("host-a", 500, "cpu_load", sampleAt{now, 10})
	h.waitDurable("acme/host-a", 500)
	h.clock.Add(time.Minute)
	h.deliver("host-a", 3, "cpu_load", sampleAt{now.Add(time.Minute), 30})
	until(t, "the new record applied", func() bool {
		st := h.broker.lastState(t, "acme/host-a")
		return st != nil && st.Offset == 3
	})
	st := h.broker.lastState(t, "acme/host-a")
	if w, ok := st.Metric("cpu_load").Series.Window(5 * time.Minute); !ok || w.Count != 2 {
		t.Fatalf("window %+v", w)
	}
}

// A series that stops reporting while its source goes on leaves the state
// after SeriesStaleAfter, and its alert resolves (series_gone); the other
// series of the metric keep theirs.
func TestAStaleSeriesEndsItsAlert(t *testing.T) {
	h := openPartition(t, actors.SourcesOptions{SeriesStaleAfter: 2 * time.Minute}, false)
	off := int64(0)
	send := func(series string, v float64) {
		h.deliver("host-a", off, series, sampleAt{h.clock.Now(), v})
		off++
	}
	send(`cpu_load{core="0"}`, 95)
	send(`cpu_load{core="1"}`, 95)
	for range 30 {
		h.clock.Add(10 * time.Second)
		send(`cpu_load{core="1"}`, 95)
	}
	h.waitDurable("acme/host-a", off-1)
	var got []string
	for _, r := range h.broker.topic(tables.AlertsTopic) {
		var tr rules.Transition
		if err := json.Unmarshal(r.Value, &tr); err != nil {
			t.Fatal(err)
		}
		got = append(got, tr.Tags["core"]+" "+tr.State+" "+tr.Reason)
	}
	if want := []string{"0 firing ", "1 firing ", "0 resolved series_gone"}; !slices.Equal(got, want) {
		t.Fatalf("transitions %q, want %q", got, want)
	}
	st := h.broker.lastState(t, "acme/host-a")
	if len(st.Metrics) != 1 || st.Metrics[0].Tags[0].Value != "1" || len(st.Alerts) != 1 {
		t.Fatalf("state %+v", st)
	}
}

// A replica upgraded in place reads the state the previous version wrote
// (one series per metric, version 2): a sample of the metric without tags
// takes its windows over, and the state is written back in the current
// encoding.
func TestAStateOfThePreviousVersionKeepsItsWindows(t *testing.T) {
	raw, err := os.ReadFile("../tables/testdata/state-v2.hex")
	if err != nil {
		t.Fatal(err)
	}
	v2, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	h := openPartition(t, actors.SourcesOptions{}, true)
	h.table["acme/host-a"] = v2
	h.clock.Add(time.Minute)
	h.deliver("host-a", 0, `cpu_load`, sampleAt{h.clock.Now(), 100})
	h.waitDurable("acme/host-a", 0)
	st := h.broker.lastState(t, "acme/host-a")
	ms := st.Metric("cpu_load")
	if ms == nil {
		t.Fatalf("no series cpu_load in %+v", st.Metrics)
	}
	if w, ok := ms.Series.Window(5 * time.Minute); !ok || w.Count != 61 || w.Last != 100 {
		t.Fatalf("window %+v: the stored samples were lost", w)
	}
	if len(st.Metrics) != 2 || st.Metrics[1].Name != "mem" || !st.Metrics[1].Untagged {
		t.Fatalf("series %+v", st.Metrics)
	}
}
