package features

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/eventops/eventops/internal/race"
)

// TestIncrementalStateMatchesRecompute drives random streams (late samples
// within the lateness bound and beyond it, ties, long gaps, sparse and
// dense stretches) and, after every Add, compares what a series keeps
// across Adds (the sorted values of each window, the per-level aggregate
// counts, the EWMA decay factor) with a recompute from scratch: the same
// state decoded into a fresh series, whose every window must be
// bit-identical, and the sorted values rebuilt from the raw samples.
func TestIncrementalStateMatchesRecompute(t *testing.T) {
	configs := []Config{
		{},
		{Counter: true},
		{Windows: []time.Duration{3 * time.Second, 6 * time.Second}, Lateness: time.Second, HalfLives: []time.Duration{time.Second}},
	}
	for ci, cfg := range configs {
		for seed := uint64(1); seed <= 4; seed++ {
			rng := rand.New(rand.NewPCG(seed, uint64(ci)))
			s := NewSeries(cfg)
			late := s.lateness
			ts := baseTs
			// Fewer steps under the race detector (it finds nothing in
			// single-goroutine code and slows it several times over) and
			// under -short; plain go test and make fuzz run 3000.
			steps := 3000
			if testing.Short() || race.Enabled {
				steps = 600
			}
			for i := 0; i < steps; i++ {
				// Mostly regular steps, with dense bursts, exact repeats
				// and gaps longer than the largest window.
				switch r := rng.IntN(100); {
				case r < 60:
					ts += 10_000 * s.levels[0].width / 2000
				case r < 85:
					ts += rng.Int64N(300)
				case r < 88:
				case r < 91:
					ts += rng.Int64N(3 * s.levels[len(s.levels)-1].win)
				default:
					ts += rng.Int64N(s.levels[0].win)
				}
				at := ts
				if rng.IntN(5) == 0 {
					at -= rng.Int64N(late * 6 / 5)
				}
				v := math.Round((50+30*math.Sin(float64(i)/40)+rng.NormFloat64()*5)*100) / 100
				if rng.IntN(50) == 0 {
					v = -v * 1e3
				}
				if _, err := s.Add(at, v); err != nil {
					t.Fatal(err)
				}
				checkIncremental(t, s, i)
			}
		}
	}
}

func checkIncremental(t *testing.T, s *Series, step int) {
	t.Helper()
	for i := range s.levels {
		lv := &s.levels[i]
		n := 0
		for j := lv.lo; j < lv.hi; j++ {
			if lv.slot(j).agg != nil {
				n++
			}
		}
		if n != lv.aggs {
			t.Fatalf("step %d level %d: %d aggregates, counted %d", step, i, n, lv.aggs)
		}
	}
	// Read the windows (which updates the sorted values), then compare
	// with a series that never saw an Add.
	for _, w := range s.cfg.Windows {
		s.Window(w)
	}
	d, _, err := DecodeSeries(s.cfg, s.AppendBinary(nil))
	if err != nil {
		t.Fatalf("step %d: %v", step, err)
	}
	for k, w := range s.cfg.Windows {
		a, _ := s.Window(w)
		b, _ := d.Window(w)
		if !sameStats(a, b) {
			t.Fatalf("step %d window %s differs from a recompute:\n%+v\n%+v", step, w, a, b)
		}
		edge := s.newest - s.levels[k].win
		raw := s.rawFrom(s.rawIndex(edge + 1))
		if s.sc == nil || s.sc.sorted == nil {
			continue
		}
		if sw := s.sc.sorted[k]; sw.owner == s && sw.valid && sw.epoch == s.rawEpoch && sw.to == s.newest {
			want := make([]float64, 0, len(raw))
			for _, r := range raw {
				want = append(want, r.v)
			}
			slices.Sort(want)
			got := make([]float64, 0, len(sw.vals))
			for _, x := range sw.vals {
				got = append(got, x.v)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("step %d window %s: sorted values %v, want %v", step, w, got, want)
			}
			// One key of the sorted values reads as the sketch of all.
			var bins []bin
			for _, v := range want {
				bins = addKey(bins, sketchKey(v))
			}
			if len(bins) <= sketchMaxBins {
				for _, q := range []float64{0.5, 0.95, 0.99} {
					if x, y := sortedQuantile(sw.vals, q, a.Min, a.Max), quantile(bins, q, a.Min, a.Max); x != y {
						t.Fatalf("step %d window %s: q%v = %v, sketch %v", step, w, q, x, y)
					}
				}
			}
		}
	}
	for k, e := range s.ewmas {
		if e.decayDt != 0 && e.decay != math.Exp2(-e.decayDt/e.halfLife) {
			t.Fatalf("step %d ewma %d: decay %v for %v ms", step, k, e.decay, e.decayDt)
		}
	}
}
