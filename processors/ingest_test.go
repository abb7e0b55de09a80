package processors_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"

	"github.com/eventops/eventops/processors"
	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/gokatables"
	"github.com/eventops/eventops/tables/kgotables"
)

// received is when the broker received the records of these tests.
var received = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// runIngest runs the ingest stage on goka's tester; now is its wall clock.
func runIngest(t *testing.T, now func() time.Time, log *slog.Logger) (*tester.Tester, *fakeProducer) {
	t.Helper()
	tt := tester.New(t)
	fp := &fakeProducer{}
	in, err := processors.NewIngest(processors.IngestOptions{Producer: fp, Now: now, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	proc, err := in.NewProcessor(goka.WithTester(tt))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- proc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ingest stopped with %v", err)
		}
	})
	return tt, fp
}

func at(t time.Time) func() time.Time { return func() time.Time { return t } }

func TestIngestNormalizesAndEnriches(t *testing.T) {
	tt, fp := runIngest(t, at(received), nil)
	tt.SetTableValue(gokatables.MetaTable, "acme/host-a", []byte(`{"owner":"team-a","region":"eu","tags":{"tier":"1"}}`))
	// Consume returns once the record's commit is released, i.e. once its
	// signal is acknowledged.
	tt.Consume(tables.RawTopic, "", []byte(`[{"tenant_id":"acme","host":"host-a","metric":"cpu_load","value":92,"ts_event":"2025-10-21T10:00:00Z","unit":"%"},
		{"tenant_id":"acme","host":"host-b","metric":"mem","value":1,"ts_event":"2025-10-21T10:00:01Z"},
		{"tenant_id":"acme","host":"host-a","metric":"cpu_load","value":93,"ts_event":"2025-10-21T10:00:10Z"}]`), tester.WithTime(received))
	sigs := fp.topic(tables.SignalsTopic)
	if len(sigs) != 2 {
		t.Fatalf("%d signals, want one per source", len(sigs))
	}
	if string(sigs[0].Key) != "acme/host-a" || string(sigs[1].Key) != "acme/host-b" {
		t.Fatalf("keys %s %s", sigs[0].Key, sigs[1].Key)
	}
	sig, err := tables.DecodeSignal(sigs[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if len(sig.Samples) != 2 || sig.Samples[0].Value != 92 || sig.Samples[1].Value != 93 || sig.Samples[0].Unit != "percent" {
		t.Fatalf("samples %+v", sig.Samples)
	}
	if sig.Meta == nil || sig.Meta.Owner != "team-a" || sig.Meta.Tags["tier"] != "1" {
		t.Fatalf("meta %+v", sig.Meta)
	}
	if sig.IngestMicro != received.UnixMicro() {
		t.Fatalf("the signal says it was received at %v, not the record's time", time.UnixMicro(sig.IngestMicro).UTC())
	}
	if other, _ := tables.DecodeSignal(sigs[1].Value); other.Meta != nil {
		t.Fatalf("host-b has no metadata, got %+v", other.Meta)
	}
	if len(fp.topic(tables.DLQTopic)) != 0 {
		t.Fatal("nothing should be rejected")
	}
}

func TestIngestRejectsToTheDLQAndGoesOn(t *testing.T) {
	tt, fp := runIngest(t, at(received), nil)
	for _, r := range []struct{ key, value string }{
		{"agent-7", `{"tenant_id":"acme","host":"h","metric":"m","value":"NaN"}`},
		{"", `garbage`},
		// The original quick start's heredoc, a record a line.
		{"", `{"tenant_id":"acme","host":"host-a","metric":"cpu_load","value":92,`},
		{"", ` "ts_event":"2025-10-21T10:00:00Z","unit":"percent","tags":{"env":"prod"}}`},
		{"", `{"tenant_id":"acme","host":"h","metric":"m","value":1,"ts_event":"2025-10-21T10:00:00Z"}`},
	} {
		tt.Consume(tables.RawTopic, r.key, []byte(r.value), tester.WithTime(received))
	}
	// A record without a timestamp: nothing to judge its times against.
	tt.Consume(tables.RawTopic, "", []byte(`{"tenant_id":"acme","host":"h","metric":"m","value":1}`))
	dlq := fp.topic(tables.DLQTopic)
	want := []struct{ reason, key, offset string }{{"not_finite", "agent-7", "0"}, {"invalid_json", "", "1"},
		{"split_record", "", "2"}, {"split_record", "", "3"}, {"no_record_time", "", "5"}}
	if len(dlq) != len(want) {
		t.Fatalf("%d DLQ records, want %d", len(dlq), len(want))
	}
	for i, w := range want {
		r := dlq[i]
		if kgotables.Header(r, tables.HeaderReason) != w.reason || string(r.Key) != w.key ||
			kgotables.Header(r, tables.HeaderOriginOffset) != w.offset || kgotables.Header(r, tables.HeaderOriginTopic) != tables.RawTopic ||
			kgotables.Header(r, tables.HeaderStage) != "ingest" {
			t.Errorf("DLQ record %d: key %q headers %+v", i, r.Key, r.Headers)
		}
	}
	if e := kgotables.Header(dlq[2], tables.HeaderError); !strings.Contains(e, "kcat -P sends each line as a record: put one event on one line, or send a JSON array") {
		t.Errorf("the split record's error does not say what to do: %s", e)
	}
	if len(fp.topic(tables.SignalsTopic)) != 1 {
		t.Fatal("the good record after the bad ones must pass")
	}
}

// A stream whose second sample is 50 minutes ahead of the time the broker
// received it: that sample is refused as future, the others pass, and the
// one without a time takes the record's. Read again by a replica whose wall
// clock is two hours later, the same record gives the same signal and the
// same rejection.
func TestIngestJudgesEventTimesAgainstTheRecordTime(t *testing.T) {
	rec := []byte(`{"tenant_id":"acme","host":"h","metric":"m","value":1,"ts_event":"2025-12-31T23:59:50Z"}
{"tenant_id":"acme","host":"h","metric":"m","value":2,"ts_event":"2026-01-01T00:50:00Z"}
{"tenant_id":"acme","host":"h","metric":"m","value":3}`)
	read := func(wall time.Time) (signal []byte, rejection string) {
		tt, fp := runIngest(t, at(wall), nil)
		tt.Consume(tables.RawTopic, "", rec, tester.WithTime(received))
		sigs, dlq := fp.topic(tables.SignalsTopic), fp.topic(tables.DLQTopic)
		if len(sigs) != 1 || len(dlq) != 1 {
			t.Fatalf("at %v: %d signals, %d rejections", wall, len(sigs), len(dlq))
		}
		return sigs[0].Value, kgotables.Header(dlq[0], tables.HeaderReason) + ": " + kgotables.Header(dlq[0], tables.HeaderError)
	}
	signal, rejection := read(received)
	if !strings.HasPrefix(rejection, "future: event 1: future: ts_event 2026-01-01T00:50:00Z is 50m0s ahead") ||
		!strings.Contains(rejection, "max_future (30s)") {
		t.Fatalf("rejection %s", rejection)
	}
	sig, err := tables.DecodeSignal(signal)
	if err != nil {
		t.Fatal(err)
	}
	if len(sig.Samples) != 2 || sig.Samples[0].Value != 1 || sig.Samples[1].Value != 3 ||
		sig.Samples[1].TsMicro != received.UnixMicro() || sig.IngestMicro != received.UnixMicro() {
		t.Fatalf("signal %+v", sig)
	}
	replayed, again := read(received.Add(2 * time.Hour))
	if !bytes.Equal(replayed, signal) || again != rejection {
		t.Fatalf("a replay judged differently:\n%x %s\n%x %s", replayed, again, signal, rejection)
	}
}

// A raw record from HTTP ingest is judged against the time HTTP ingest
// received it, which its signal carries on.
func TestIngestTakesHTTPIngestsReceiveTime(t *testing.T) {
	tt, fp := runIngest(t, at(received), nil)
	viaHTTP := received.Add(-20 * time.Millisecond)
	h := kgotables.ReceivedHeader(viaHTTP)
	tt.Consume(tables.RawTopic, "acme/h", []byte(`{"tenant_id":"acme","host":"h","metric":"m","value":1}`),
		tester.WithTime(received), tester.WithHeaders(goka.Headers{h.Key: h.Value}))
	sigs := fp.topic(tables.SignalsTopic)
	if len(sigs) != 1 {
		t.Fatalf("%d signals", len(sigs))
	}
	sig, _ := tables.DecodeSignal(sigs[0].Value)
	if sig.IngestMicro != viaHTTP.UnixMicro() || sig.Samples[0].TsMicro != viaHTTP.UnixMicro() {
		t.Fatalf("signal %+v, want HTTP ingest's receive time %v", sig, viaHTTP)
	}
}

// Split records are logged at most once a minute, with the reason, the fix
// and how many there were.
func TestIngestWarnsOfSplitRecordsOnceAMinute(t *testing.T) {
	var logs lockedBuffer
	var wall atomic.Pointer[time.Time]
	wall.Store(&received)
	tt, _ := runIngest(t, func() time.Time { return *wall.Load() }, slog.New(slog.NewTextHandler(&logs, nil)))
	split := func(n int) {
		for range n {
			tt.Consume(tables.RawTopic, "", []byte(`{"tenant_id":"acme",`), tester.WithTime(received))
		}
	}
	split(3)
	later := received.Add(time.Minute)
	wall.Store(&later)
	split(2)
	var warnings []string
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(l, "reason=split_record") {
			warnings = append(warnings, l)
		}
	}
	if len(warnings) != 2 || !strings.Contains(warnings[0], "records=1 ") || !strings.Contains(warnings[1], "records=3 ") ||
		!strings.Contains(warnings[0], `fix="kcat -P sends each line as a record: put one event on one line, or send a JSON array"`) {
		t.Fatalf("warnings:\n%s", strings.Join(warnings, "\n"))
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
