package features

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/eventops/eventops/internal/race"
)

// TestSharedScratchChangesNothing reads series that share one Scratch in
// an interleaved order (Adds, late samples, reads of every stat of random
// windows, snapshots), under two configs, and checks every read against a
// twin series fed the same samples that reads with a scratch of its own.
func TestSharedScratchChangesNothing(t *testing.T) {
	counter := DefaultConfig()
	counter.Counter = true
	configs := []Config{
		{},
		counter,
		{Windows: []time.Duration{3 * time.Second, 6 * time.Second}, Lateness: time.Second, HalfLives: []time.Duration{time.Second}},
	}
	var sc Scratch
	type pair struct{ shared, own *Series }
	var pairs []pair
	for i := range 9 {
		cfg := configs[i%len(configs)]
		p := pair{NewSeries(cfg), NewSeries(cfg)}
		p.shared.UseScratch(&sc)
		pairs = append(pairs, p)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	ts := make([]int64, len(pairs))
	for i := range ts {
		ts[i] = baseTs
	}
	// Fewer steps under the race detector (it finds nothing in this
	// single-goroutine code and slows it several times over) and under
	// -short; plain go test and make fuzz run 40,000.
	steps := 40_000
	if testing.Short() || race.Enabled {
		steps = 8_000
	}
	for step := range steps {
		i := rng.IntN(len(pairs))
		p := pairs[i]
		// Sparse and dense stretches, late samples and resends.
		if rng.IntN(3) == 0 {
			ts[i] += rng.Int64N(300)
		} else {
			ts[i] += rng.Int64N(12_000)
		}
		at := ts[i]
		if rng.IntN(6) == 0 {
			at -= rng.Int64N(p.own.lateness)
		}
		v := math.Round((50+30*math.Sin(float64(step)/50)+rng.NormFloat64()*8)*100) / 100
		o1, _ := p.shared.Add(at, v)
		o2, _ := p.own.Add(at, v)
		if o1 != o2 {
			t.Fatalf("step %d: outcomes %v and %v", step, o1, o2)
		}
		// Read some series, not only the one that changed.
		for range 1 + rng.IntN(3) {
			q := pairs[rng.IntN(len(pairs))]
			cfg := q.own.Config()
			w := cfg.Windows[rng.IntN(len(cfg.Windows))]
			now := ts[i]
			for _, name := range StatNames() {
				v1, ok1 := q.shared.Stat(name, w, now)
				v2, ok2 := q.own.Stat(name, w, now)
				if ok1 != ok2 || math.Float64bits(v1) != math.Float64bits(v2) {
					t.Fatalf("step %d: %s over %s = %v, %v; own scratch %v, %v", step, name, w, v1, ok1, v2, ok2)
				}
			}
			a, _ := q.shared.Window(w)
			b, _ := q.own.Window(w)
			if !sameStats(a, b) {
				t.Fatalf("step %d: window %s\n%+v\nown scratch\n%+v", step, w, a, b)
			}
		}
	}
	for _, p := range pairs {
		if a, b := p.shared.AppendBinary(nil), p.own.AppendBinary(nil); string(a) != string(b) {
			t.Fatal("encodings differ")
		}
	}
}
