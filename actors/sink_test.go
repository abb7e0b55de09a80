package actors_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/features"
	"github.com/eventops/eventops/rules"
	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/store/storetest"
	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/kgotables"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func openStore(t testing.TB, opts store.Options) *store.Store {
	t.Helper()
	if opts.URL == "" {
		opts.URL = storetest.NewDatabase(t)
	}
	opts.Logger = quiet
	s, err := store.Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// dlq is a hand-written SyncProducer that keeps what it is given.
type dlq struct {
	mu   sync.Mutex
	recs []*kgo.Record
}

func (d *dlq) ProduceSync(_ context.Context, rs ...*kgo.Record) kgo.ProduceResults {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.recs = append(d.recs, rs...)
	out := make(kgo.ProduceResults, len(rs))
	for i, r := range rs {
		out[i] = kgo.ProduceResult{Record: r}
	}
	return out
}

func (d *dlq) records() []*kgo.Record {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*kgo.Record(nil), d.recs...)
}

// signals makes n signals of per samples each: 50 sources, 4 metrics, all
// (source, metric, ts) distinct, event times from base on.
func signals(n, per int, base time.Time) []*tables.Signal {
	out := make([]*tables.Signal, n)
	for i := range out {
		sig := &tables.Signal{
			Tenant: []string{"acme", "globex"}[i%2], Host: fmt.Sprintf("host-%02d", i%50),
			Origin: tables.Origin{Partition: int32(i % 12), Offset: int64(i)}, IngestMicro: base.UnixMicro(),
		}
		if i%3 == 0 {
			sig.Meta = &tables.SourceMeta{Owner: "team-" + sig.Host, Region: "eu-west-1"}
		}
		for j := range per {
			sig.Samples = append(sig.Samples, tables.Sample{
				Metric: fmt.Sprintf("m_%d", j%4), Unit: "percent", Value: float64(i*per + j),
				TsMicro: base.Add(time.Duration(i/50)*time.Second + time.Duration(j/4)*time.Millisecond).UnixMicro(),
				Tags:    tables.Tags{{Key: "env", Value: "prod"}, {Key: "rack", Value: fmt.Sprint(i % 7)}},
			})
		}
		out[i] = sig
	}
	return out
}

func transitions(n int, base time.Time) []*rules.Transition {
	out := make([]*rules.Transition, 0, n)
	for i := range n {
		state := []string{rules.StatePending, rules.StateFiring, rules.StateResolved}[i%3]
		out = append(out, &rules.Transition{
			AlertName: "HighCPU", Tenant: "acme", Host: fmt.Sprintf("host-%02d", (i/3)%50), State: state, Severity: "critical",
			Labels: map[string]string{"severity": "critical"}, Annotations: map[string]string{"summary": "hot"},
			Value: features.Float(91), EpisodeID: fmt.Sprintf("%016x", i/3), At: rules.Timestamp(base.Add(time.Duration(i) * time.Second).UnixMilli()),
		})
	}
	return out
}

// running runs r (a writer or the sink) until stop, which ends its context
// and returns what Run returned (the drain's error). The test's end stops
// it too.
func running(t testing.TB, r interface{ Run(context.Context) error }) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- r.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-ran
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// feed hands every signal and transition to the sink and waits until all
// are acknowledged.
func feed(t testing.TB, sink *actors.Sink, sigs []*tables.Signal, trs []*rules.Transition) {
	t.Helper()
	var done atomic.Int64
	ctx := context.Background()
	for _, sig := range sigs {
		if err := sink.Signal(ctx, sig, func() { done.Add(1) }); err != nil {
			t.Fatal(err)
		}
	}
	for _, tr := range trs {
		if err := sink.Alert(ctx, tr, []byte(`{}`), func() { done.Add(1) }); err != nil {
			t.Fatal(err)
		}
	}
	want := int64(len(sigs) + len(trs))
	waitFor(t, 60*time.Second, "every record acknowledged", func() error {
		if n := done.Load(); n != want {
			return fmt.Errorf("%d of %d acknowledged", n, want)
		}
		return nil
	})
}

// waitFor polls f until it returns nil or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, timeout, err)
		}
		<-time.After(20 * time.Millisecond) // the poll interval
	}
}

// fingerprint digests every table the sink writes, ids and write times
// included: a replay that changed anything shows.
func fingerprint(t testing.TB, s *store.Store) string {
	t.Helper()
	var out string
	for _, q := range []string{
		`SELECT count(*)::text || ':' || md5(string_agg(m::text, ',' ORDER BY tenant, source_id, metric, ts)) FROM metrics m`,
		`SELECT count(*)::text || ':' || md5(string_agg(a::text, ',' ORDER BY id)) FROM alerts a`,
		`SELECT count(*)::text || ':' || md5(string_agg(s::text, ',' ORDER BY tenant, source_id)) FROM sources s`,
	} {
		var f string
		if err := s.Pool().QueryRow(context.Background(), q).Scan(&f); err != nil {
			t.Fatal(err)
		}
		out += f + " "
	}
	return out
}

// Replaying the same 100,000 events through the sink changes no row.
func TestSinkReplayChangesNothing(t *testing.T) {
	db := openStore(t, store.Options{})
	system := actors.NewSystem(quiet)
	defer system.Shutdown()
	sink := actors.NewSink(system, actors.SinkOptions{Store: db, Producer: &dlq{}, DrainTimeout: 10 * time.Second, Logger: quiet})
	defer running(t, sink)()
	base := time.Date(2025, 10, 21, 10, 0, 0, 0, time.UTC)
	sigs, trs := signals(10_000, 10, base), transitions(300, base)

	feed(t, sink, sigs, trs)
	first := fingerprint(t, db)
	var n int
	if err := db.Pool().QueryRow(context.Background(), `SELECT count(DISTINCT (tenant, source_id, metric, ts)) FROM metrics`).Scan(&n); err != nil || n != 100_000 {
		t.Fatalf("%d distinct metric rows after the first pass, want 100000 (%v)", n, err)
	}
	feed(t, sink, sigs, trs)
	if again := fingerprint(t, db); again != first {
		t.Fatalf("the replay changed the tables:\n%s\n%s", first, again)
	}
	t.Logf("tables: %s", first)
}

func TestSinkSendsRefusedRowsToTheDLQ(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	db := openStore(t, store.Options{Retention: 24 * time.Hour, Now: func() time.Time { return now }})
	system := actors.NewSystem(quiet)
	defer system.Shutdown()
	q := &dlq{}
	sink := actors.NewSink(system, actors.SinkOptions{Store: db, Producer: q, DrainTimeout: 10 * time.Second, Logger: quiet})
	defer running(t, sink)()
	sig := &tables.Signal{Tenant: "acme", Host: "host-a", IngestMicro: now.UnixMicro(), Samples: []tables.Sample{
		{Metric: "cpu_load", Value: 1, TsMicro: now.UnixMicro()},
		{Metric: "cpu_load", Value: 2, TsMicro: now.Add(-48 * time.Hour).UnixMicro()},
		{Metric: "cpu\x00load", Value: 3, TsMicro: now.UnixMicro()},
	}}
	feed(t, sink, []*tables.Signal{sig}, nil)
	recs := q.records()
	reasons := map[string]string{}
	for _, r := range recs {
		reasons[kgotables.Header(r, tables.HeaderReason)] = kgotables.Header(r, tables.HeaderError)
		if kgotables.Header(r, tables.HeaderStage) != "sink" || string(r.Key) != "acme/host-a" {
			t.Errorf("DLQ record %+v", r)
		}
	}
	if len(recs) != 2 || reasons[actors.ReasonOlderThanRetention] == "" || reasons[actors.ReasonRefusedByDatabase] == "" {
		t.Fatalf("DLQ reasons %v", reasons)
	}
	var n int
	if err := db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM metrics`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d rows (%v), want the good one", n, err)
	}
}

// The metric column of an alert row is the metric its rule reads, also
// through a selector.
func TestAlertRowMetricOfASelector(t *testing.T) {
	row := actors.AlertRow(&rules.Transition{Features: map[string]features.Float{`avg(disk_used_pct{mount="/"},5m)`: 95}}, nil)
	if row.Metric != "disk_used_pct" {
		t.Fatalf("metric %q", row.Metric)
	}
}
