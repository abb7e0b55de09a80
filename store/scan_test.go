package store_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventops/eventops/store"
	"github.com/eventops/eventops/tables"
)

// scanFixture is what the scan tests store: samples of several tenants and
// hosts (h1 < h10 < h2 in byte order), over two days (two partitions),
// with several metrics and tags at one time, and metadata that changes
// over a source's history, written record by record as the sink writes
// them, the records of a source out of event-time order (some times in
// two records, received at two times, that arrive apart or one after the
// other), in batches that cut records.
type scanFixture struct {
	// rows in the order they were written.
	rows []store.MetricRow
	base time.Time
}

func newScanFixture(t *testing.T, s *store.Store) scanFixture {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	// Late on a day, so that the times run into the next day's partition.
	base := time.Date(2026, 3, 9, 23, 59, 50, 123456000, time.UTC)
	metas := []string{``, `{"owner":"ops","region":"eu","tags":{"rack":"r1"}}`, `{"owner":"db","service":"pg"}`}
	// Units of records that arrive one after the other.
	var units [][][]store.MetricRow
	for _, tenant := range []string{"beta", "acme"} {
		for hi, host := range []string{"h2", "h10", "h1"} {
			for step := range 20 {
				// Sources tick at their own times, with gaps.
				if (step+hi)%5 == 4 {
					continue
				}
				ts := base.Add(time.Duration(step*(hi+2)) * time.Second).Add(time.Duration(hi) * time.Microsecond)
				meta := metas[(step/7+hi)%len(metas)]
				var rec []store.MetricRow
				add := func(metric, tags string, v float64) {
					rec = append(rec, store.MetricRow{Ts: ts, Tenant: tenant, SourceID: host, Metric: metric,
						Value: v, Unit: "u_" + metric, Tags: []byte(tags), Meta: []byte(meta), IngestedAt: ts})
				}
				add("cpu", `{"core":"0"}`, rng.Float64())
				if step%2 == 0 {
					add("cpu", `{"core":"1"}`, rng.Float64())
					add("cpu", `{"core":"10","env":"prod"}`, rng.Float64())
					add("mem", `{}`, rng.Float64())
				}
				if step%3 == 0 {
					disk := len(rec)
					add("disk", `{"dev":"sda"}`, rng.Float64())
					add("disk", `{"dev":"sdb"}`, rng.Float64())
					if step%4 == 0 {
						// Another record of the same time, received
						// later: apart, or right after.
						other := slices.Clone(rec[disk:])
						for i := range other {
							other[i].IngestedAt = ts.Add(time.Millisecond)
						}
						rec = rec[:disk:disk]
						if step == 0 {
							units = append(units, [][]store.MetricRow{rec, other})
							continue
						}
						units = append(units, [][]store.MetricRow{other})
					}
				}
				// A record's samples in an order of their own.
				rng.Shuffle(len(rec), func(i, j int) { rec[i], rec[j] = rec[j], rec[i] })
				units = append(units, [][]store.MetricRow{rec})
			}
		}
	}
	// Records arrive in an order that is not event time's.
	rng.Shuffle(len(units), func(i, j int) { units[i], units[j] = units[j], units[i] })
	var rows []store.MetricRow
	for _, u := range units {
		for _, rec := range u {
			rows = append(rows, rec...)
		}
	}
	for i := 0; i < len(rows); i += 97 {
		res, err := s.WriteMetrics(context.Background(), rows[i:min(i+97, len(rows))])
		if err != nil || len(res.Bad) != 0 {
			t.Fatalf("write: %+v %v", res, err)
		}
	}
	return scanFixture{rows: rows, base: base}
}

// want is the naive reference: the fixture's rows that q selects, by
// tenant and host, each source's in the order they were written, the
// consecutive rows of one event and receive time one signal with the
// metadata of its first sample.
func (f scanFixture) want(t *testing.T, q store.SignalScan) []*tables.Signal {
	t.Helper()
	var sel []store.MetricRow
	for _, r := range f.rows {
		if q.Tenant != "" && r.Tenant != q.Tenant || q.Host != "" && r.SourceID != q.Host ||
			!q.From.IsZero() && r.Ts.Before(q.From) || !q.To.IsZero() && !r.Ts.Before(q.To) {
			continue
		}
		sel = append(sel, r)
	}
	slices.SortStableFunc(sel, func(a, b store.MetricRow) int {
		return cmp.Or(strings.Compare(a.Tenant, b.Tenant), strings.Compare(a.SourceID, b.SourceID))
	})
	var out []*tables.Signal
	for i, r := range sel {
		if i == 0 || r.Tenant != sel[i-1].Tenant || r.SourceID != sel[i-1].SourceID || !r.Ts.Equal(sel[i-1].Ts) ||
			!r.IngestedAt.Equal(sel[i-1].IngestedAt) {
			sig := &tables.Signal{Tenant: r.Tenant, Host: r.SourceID}
			if len(r.Meta) > 0 {
				m, err := tables.ParseSourceMeta(r.Meta)
				if err != nil {
					t.Fatal(err)
				}
				sig.Meta = m
			}
			out = append(out, sig)
		}
		sig := out[len(out)-1]
		sig.Samples = append(sig.Samples, tables.Sample{Metric: r.Metric, Unit: r.Unit, Value: r.Value,
			TsMicro: r.Ts.UnixMicro(), Tags: tags(t, r.Tags)})
	}
	return out
}

func tags(t *testing.T, b []byte) tables.Tags {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return tables.TagsFromMap(m)
}

func scanAll(t *testing.T, s *store.Store, q store.SignalScan) []*tables.Signal {
	t.Helper()
	var got []*tables.Signal
	if err := s.ScanSignals(context.Background(), q, func(sig *tables.Signal) error {
		got = append(got, sig)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

func sameSignals(t *testing.T, what string, got, want []*tables.Signal) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	show := func(sigs []*tables.Signal, i int) string {
		if i >= len(sigs) {
			return "none"
		}
		s := sigs[i]
		var b strings.Builder
		fmt.Fprintf(&b, "%s/%s meta=%+v:", s.Tenant, s.Host, s.Meta)
		for _, sm := range s.Samples {
			fmt.Fprintf(&b, " %s@%d=%g%v", tables.SeriesName(sm.Metric, sm.Tags), sm.TsMicro, sm.Value, sm.Unit)
		}
		return b.String()
	}
	for i := range max(len(got), len(want)) {
		if i >= len(got) || i >= len(want) || !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("%s: %d signals, want %d; first difference at %d:\n got %s\nwant %s",
				what, len(got), len(want), i, show(got, i), show(want, i))
		}
	}
}

// Every sample comes back once, by tenant and host, each source's samples
// in the order they were written (not event time's), consecutive samples
// of one time grouped into one signal, with the metadata decoded, whatever
// the batch size: batches of 1 to 7 rows cut signals of up to 6 samples,
// each signal goes on in the next batch.
func TestScanSignalsOrderAndGrouping(t *testing.T) {
	t.Parallel()
	s := migrated(t)
	f := newScanFixture(t, s)
	want := f.want(t, store.SignalScan{})
	longest := 0
	for _, sig := range want {
		longest = max(longest, len(sig.Samples))
	}
	// The fixture's sources go back in time, and have times in several
	// signals.
	back, again, next := 0, 0, 0
	seen := map[string]bool{}
	for i, sig := range want {
		k := fmt.Sprint(sig.Key(), sig.Samples[0].TsMicro)
		if seen[k] {
			again++
		}
		seen[k] = true
		if i > 0 && sig.Key() == want[i-1].Key() {
			switch prev := want[i-1].Samples[0].TsMicro; {
			case sig.Samples[0].TsMicro < prev:
				back++
			case sig.Samples[0].TsMicro == prev:
				next++
			}
		}
	}
	if longest < 6 || len(want) < 90 || back < 30 || again < 5 || next < 6 {
		t.Fatalf("fixture: %d signals, longest %d samples, %d back in time, %d of a time seen before, %d right after one of its time",
			len(want), longest, back, again, next)
	}
	sameSignals(t, "all", scanAll(t, s, store.SignalScan{}), want)
}

func TestScanSignalsFilters(t *testing.T) {
	t.Parallel()
	s := migrated(t)
	f := newScanFixture(t, s)
	at := func(sec int) time.Time { return f.base.Add(time.Duration(sec) * time.Second) }
	for _, q := range []store.SignalScan{
		{Tenant: "acme"},
		{Tenant: "beta", Host: "h10"},
		{Host: "h1"}, // of every tenant
		{Tenant: "nobody"},
		// Half-open: a sample at From is in, one at To is out. h2 ticks
		// at base+2k s, h10 at base+3k s +1 µs, h1 at base+4k s +2 µs.
		{From: at(12), To: at(24)},
		{From: at(12).Add(time.Microsecond), To: at(24).Add(time.Microsecond)},
		{Tenant: "acme", Host: "h2", From: at(16), To: at(32)},
		{From: at(30)}, // across midnight, to the end
		{To: at(9)},
		// Empty ranges.
		{From: at(12), To: at(12)},
		{From: at(30), To: at(12)},
		{From: at(1000)},
	} {
		want := f.want(t, q)
		got := scanAll(t, s, q)
		sameSignals(t, fmt.Sprintf("%+v", q), got, want)
		if q.Tenant == "" && q.Host == "" && !q.From.IsZero() && !q.To.IsZero() && q.From.Before(q.To) && len(want) == 0 {
			t.Fatalf("%+v: the fixture has nothing in range", q)
		}
	}
	// The bounds are met exactly: at(12) holds a sample of beta/h2.
	got := scanAll(t, s, store.SignalScan{Tenant: "beta", Host: "h2", From: at(12), To: at(12).Add(time.Microsecond)})
	if len(got) != 1 || got[0].Samples[0].TsMicro != at(12).UnixMicro() {
		t.Fatalf("the sample at From: %v", got)
	}
	if got := scanAll(t, s, store.SignalScan{Tenant: "beta", Host: "h2", From: at(11), To: at(12)}); len(got) != 0 {
		t.Fatalf("the sample at To was read: %v", got)
	}
	calls := 0
	if err := s.ScanSignals(context.Background(), store.SignalScan{From: at(12), To: at(12)}, func(*tables.Signal) error {
		calls++
		return nil
	}); err != nil || calls != 0 {
		t.Fatalf("empty range: %d calls, %v", calls, err)
	}
}

// A scan ends at fn's first error, returned as is, and at the context's
// end, returning its error, without another call of fn.
func TestScanSignalsStops(t *testing.T) {
	t.Parallel()
	s := migrated(t)
	newScanFixture(t, s)

	errStop := errors.New("enough")
	calls := 0
	err := s.ScanSignals(context.Background(), store.SignalScan{}, func(*tables.Signal) error {
		if calls++; calls == 17 {
			return errStop
		}
		return nil
	})
	if err != errStop || calls != 17 {
		t.Fatalf("fn's error: %d calls, %v", calls, err)
	}

	// Cancelled in the middle of a source.
	ctx, cancel := context.WithCancel(context.Background())
	calls = 0
	err = s.ScanSignals(ctx, store.SignalScan{}, func(*tables.Signal) error {
		if calls++; calls == 23 {
			cancel()
		}
		return nil
	})
	cancel()
	if !errors.Is(err, context.Canceled) || calls != 23 {
		t.Fatalf("cancelled: %d calls, %v", calls, err)
	}

	// A context that ends while a query runs.
	ctx, cancel2 := context.WithCancel(context.Background())
	cancel2()
	calls = 0
	if err := s.ScanSignals(ctx, store.SignalScan{}, func(*tables.Signal) error { calls++; return nil }); !errors.Is(err, context.Canceled) || calls != 0 {
		t.Fatalf("ended before: %d calls, %v", calls, err)
	}
}

// Each source is a query of its own, run when the scan reaches it: rows
// written during a scan to a source after its position are read, rows of
// a source behind it are not.
func TestScanSignalsReadsSourceBySource(t *testing.T) {
	t.Parallel()
	s := migrated(t)
	f := newScanFixture(t, s)
	ahead := store.MetricRow{Ts: f.base, Tenant: "beta", SourceID: "h10", Metric: "late", Value: 1, Tags: []byte(`{}`), IngestedAt: f.base}
	behind := store.MetricRow{Ts: f.base, Tenant: "acme", SourceID: "h1", Metric: "late", Value: 2, Tags: []byte(`{}`), IngestedAt: f.base}
	var hosts, late []string
	err := s.ScanSignals(context.Background(), store.SignalScan{}, func(sig *tables.Signal) error {
		if len(hosts) == 0 {
			if res, err := s.WriteMetrics(context.Background(), []store.MetricRow{ahead, behind}); err != nil || res.Inserted != 2 {
				t.Fatalf("write: %+v %v", res, err)
			}
		}
		if len(hosts) == 0 || hosts[len(hosts)-1] != sig.Tenant+"/"+sig.Host {
			hosts = append(hosts, sig.Tenant+"/"+sig.Host)
		}
		for _, sm := range sig.Samples {
			if sm.Metric == "late" {
				late = append(late, sig.Tenant+"/"+sig.Host)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"acme/h1", "acme/h10", "acme/h2", "beta/h1", "beta/h10", "beta/h2"}; !slices.Equal(hosts, want) {
		t.Fatalf("sources %v, want %v", hosts, want)
	}
	if want := []string{"beta/h10"}; !slices.Equal(late, want) {
		t.Fatalf("rows written during the scan read in %v, want %v", late, want)
	}
}
