package features

import (
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/eventops/eventops/internal/race"
)

// TestResendsChangeNothing feeds random streams to two series, one of them
// also getting resends (an event time sent before, any value, in order or
// late), and checks that the resends are Duplicate (or TooLate past the
// bound) and that both series stay byte for byte the same state: what a
// stream of resends leaves is exactly what the stream leaves. The streams
// go from sparse (raw buckets) to dense (aggregated buckets, time sets as
// lists) to very dense (time sets as bitmaps), and cross encode/decode.
func TestResendsChangeNothing(t *testing.T) {
	type spec struct {
		name             string
		cfg              Config
		step, jitter     int64 // ms
		late             float64
		resend, steps    int
		burst, burstStep int64 // every burst samples, one burst of 400 samples burstStep ms apart
	}
	small := Config{Windows: []time.Duration{3 * time.Second, 6 * time.Second}, Lateness: time.Second, HalfLives: []time.Duration{time.Second}}
	specs := []spec{
		{name: "sparse", step: 7_000, jitter: 3_000, late: 0.2, resend: 4, steps: 2_000},
		{name: "dense", step: 100, jitter: 60, late: 0.1, resend: 4, steps: 12_000},
		{name: "dense counter", cfg: Config{Counter: true}, step: 60, jitter: 50, late: 0.1, resend: 3, steps: 12_000},
		{name: "bitmaps", step: 3, jitter: 2, late: 0.2, resend: 3, steps: 15_000},
		{name: "bursts", step: 2_000, jitter: 1_000, late: 0.1, resend: 4, steps: 12_000, burst: 50, burstStep: 1},
		{name: "small windows", cfg: small, step: 20, jitter: 19, late: 0.3, resend: 3, steps: 20_000},
	}
	for _, sp := range specs {
		t.Run(sp.name, func(t *testing.T) {
			// A quarter of the steps under the race detector (it finds
			// nothing in single-goroutine code and slows it several times
			// over) and under -short; plain go test and make fuzz run all.
			steps := sp.steps
			if testing.Short() || race.Enabled {
				steps /= 4
			}
			rng := rand.New(rand.NewPCG(uint64(len(sp.name)), 99))
			with, without := NewSeries(sp.cfg), NewSeries(sp.cfg)
			r := newRef(sp.cfg)
			lateness := with.lateness
			var sent []int64 // event times applied, in arrival order
			ts := baseTs
			burst := 0
			for i := 0; i < steps; i++ {
				if rng.IntN(sp.resend) == 0 && len(sent) > 0 {
					// A resend: mostly recent (within the bound), some older.
					at := sent[len(sent)-1-rng.IntN(min(len(sent), 200))]
					if rng.IntN(20) == 0 {
						at = sent[rng.IntN(len(sent))]
					}
					want := Duplicate
					if at < with.newest-lateness {
						want = TooLate
					}
					if got, err := with.Add(at, rng.Float64()*100); got != want || err != nil {
						t.Fatalf("step %d: resend at %d = %v, %v; want %v", i, at, got, err, want)
					}
					if got := r.add(at, 0); got != want {
						t.Fatalf("step %d: the reference says %v", i, got)
					}
				} else {
					switch {
					case burst > 0:
						burst--
						ts += sp.burstStep
					case sp.burst > 0 && i%int(sp.burst) == 0:
						burst = 400
						fallthrough
					default:
						ts += sp.step + rng.Int64N(2*sp.jitter+1) - sp.jitter
					}
					at := ts
					if rng.Float64() < sp.late {
						at -= rng.Int64N(lateness + lateness/5)
					}
					v := float64(rng.IntN(10_000)) / 100
					if sp.cfg.Counter {
						// Exact for late samples inside aggregates (no reset).
						v = counterAt(0)(rng, at)
					}
					want := r.add(at, v)
					got1, err1 := with.Add(at, v)
					got2, err2 := without.Add(at, v)
					if got1 != want || got2 != want || err1 != nil || err2 != nil {
						t.Fatalf("step %d: Add(%d) = %v, %v / %v, %v; want %v", i, at, got1, err1, got2, err2, want)
					}
					if want == Applied {
						sent = append(sent, at)
					}
				}
				if i%197 == 0 || i == steps-1 {
					a, b := with.AppendBinary(nil), without.AppendBinary(nil)
					if string(a) != string(b) {
						t.Fatalf("step %d: the resends changed the state (%d vs %d bytes)", i, len(a), len(b))
					}
					checkInvariants(t, with)
					checkTracked(t, with)
					compare(t, with, r, i)
				}
				if i%2_003 == 1_000 {
					// Continue on decoded copies: they recognise resends too.
					with, without = decoded(t, with), decoded(t, without)
				}
			}
		})
	}
}

func decoded(t *testing.T, s *Series) *Series {
	t.Helper()
	d, rest, err := DecodeSeries(s.cfg, s.AppendBinary(nil))
	if err != nil || len(rest) != 0 {
		t.Fatalf("decode: %v", err)
	}
	return d
}

// checkTracked: every aggregated bucket a sample can still land in has a
// time set (a series built by this version, from a stream without resends
// in its raw samples).
func checkTracked(t *testing.T, s *Series) {
	t.Helper()
	lv := &s.levels[0]
	for j := max(lv.lo, s.horizon(s.newest)); j < lv.hi; j++ {
		if a := lv.slot(j).agg; a != nil && a.times == nil {
			t.Fatalf("aggregated bucket %d in the lateness horizon has no time set", j)
		}
	}
}

func TestDuplicate(t *testing.T) {
	s := seriesOf(t, Config{}, pt{baseTs, 1}, pt{baseTs + 10_000, 2})
	before := s.AppendBinary(nil)
	for _, p := range []pt{{baseTs + 10_000, 3}, {baseTs, 4}, {baseTs + 10_000, 2}} {
		o, err := s.Add(p.ts, p.v)
		if o != Duplicate || err != nil || o.Reason() != ReasonDuplicate || o.String() != "duplicate" {
			t.Fatalf("Add(%d, %v) = %v (%q), %v", p.ts, p.v, o, o.Reason(), err)
		}
	}
	if string(s.AppendBinary(nil)) != string(before) {
		t.Fatal("a resend changed the state")
	}
	if ts, v, _ := s.Last(); ts != baseTs+10_000 || v != 2 {
		t.Fatalf("Last = %d, %v: the first sample at the newest time must stay", ts, v)
	}
	// A resend too old for the bound is TooLate, as the sample was.
	if o, _ := s.Add(baseTs+10_000+60_000, 5); o != Applied {
		t.Fatal(o)
	}
	if o, _ := s.Add(baseTs, 6); o != TooLate {
		t.Fatalf("old resend: %v", o)
	}
	if o, _ := s.Add(baseTs+10_000, 6); o != Duplicate {
		t.Fatalf("resend at the bound: %v", o)
	}
}

// TestTimeSetForms: a time set holds exactly the offsets added, in any
// order, in the same bytes whatever the order, as a list while that is not
// larger than a bitmap.
func TestTimeSetForms(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, width := range []int64{100, 2000, 120_000} {
		for _, n := range []int{1, 17, 60, 250, 1000} {
			if int64(n) > width {
				continue
			}
			offs := rng.Perm(int(width))[:n]
			set := map[int64]bool{}
			ts := &timeSet{last: -1}
			for k, o := range offs {
				if ts.has(int64(o)) {
					t.Fatalf("width %d: %d present before it was added", width, o)
				}
				ts.add(int64(o), width)
				set[int64(o)] = true
				if k%7 == 0 || k == n-1 {
					for q := 0; q < 50; q++ {
						x := rng.Int64N(width)
						if ts.has(x) != set[x] {
							t.Fatalf("width %d, %d added: has(%d) = %v", width, k+1, x, ts.has(x))
						}
					}
				}
			}
			sorted := slices.Sorted(func(yield func(int64) bool) {
				for o := range set {
					if !yield(o) {
						return
					}
				}
			})
			if got := timeOffsets(ts); !slices.Equal(got, sorted) {
				t.Fatalf("width %d: offsets %v, want %v", width, got, sorted)
			}
			if want := listBytes(sorted) > bitmapBytes(width); ts.bitmap != want || ts.count() != int64(n) {
				t.Fatalf("width %d, %d times: bitmap %v, count %d", width, n, ts.bitmap, ts.count())
			}
			inOrder := &timeSet{last: -1}
			for _, o := range sorted {
				inOrder.add(o, width)
			}
			if string(inOrder.b) != string(ts.b) || inOrder.bitmap != ts.bitmap {
				t.Fatalf("width %d, %d times: the form depends on the order of arrival", width, n)
			}
		}
	}
}

// TestDecodesVersion1 reads a state encoded with the version 1 layout
// (before time sets): its features are those of its stream, and resends
// are recognised except in the aggregated buckets it brought, until they
// leave the lateness horizon.
func TestDecodesVersion1(t *testing.T) {
	enc, err := os.ReadFile("testdata/series-v1.bin")
	if err != nil {
		t.Fatal(err)
	}
	old, rest, err := DecodeSeries(Config{}, enc)
	if err != nil || len(rest) != 0 {
		t.Fatalf("decode version 1: %v", err)
	}
	stream := versionOneStream()
	fresh := NewSeries(Config{})
	for _, p := range stream {
		if o, err := fresh.Add(p.ts, p.v); o != Applied || err != nil {
			t.Fatal(o, err)
		}
	}
	for _, w := range fresh.cfg.Windows {
		a, _ := old.Window(w)
		b, _ := fresh.Window(w)
		if !sameStats(a, b) {
			t.Fatalf("window %s differs:\n%+v\n%+v", w, a, b)
		}
	}
	// Resends of the last minute: in raw buckets they are recognised, in
	// the aggregated buckets of the old state they are applied again.
	newest := stream[len(stream)-1].ts
	var raw, agg int
	lv := &old.levels[0]
	for _, p := range stream {
		if p.ts < newest-old.lateness {
			continue
		}
		inAgg := lv.slot(floorDiv(p.ts, lv.width)).agg != nil
		o, _ := old.Add(p.ts, 0)
		switch {
		case inAgg && o == Applied:
			agg++
		case !inAgg && o == Duplicate:
			raw++
		default:
			t.Fatalf("resend at %d (aggregated bucket: %v): %v", p.ts, inAgg, o)
		}
	}
	if raw == 0 || agg == 0 {
		t.Fatalf("the golden state should hold both kinds of buckets: %d raw, %d aggregated", raw, agg)
	}
	// A minute of new dense data later, every bucket a resend can reach has
	// a time set.
	ts := newest
	for range 1200 {
		ts += 50
		old.Add(ts, 1)
	}
	checkInvariants(t, old)
	checkTracked(t, old)
	if o, _ := old.Add(ts-30_000, 2); o != Duplicate {
		t.Fatalf("resend after the old buckets left the horizon: %v", o)
	}
}
