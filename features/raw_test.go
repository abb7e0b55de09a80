package features

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/eventops/eventops/internal/race"
)

// rawFrom unpacks the live raw samples from index p on.
func (s *Series) rawFrom(p int) []sample { return s.raw.load(nil, p, s.raw.n) }

// TestRawSamplesMatchAPlainSlice drives the packed raw samples with random
// inserts (in order and late), removals and expiries, with values and
// times that need every column form, and compares them after every step
// with a plain sorted slice: the same samples, bit for bit.
func TestRawSamplesMatchAPlainSlice(t *testing.T) {
	kinds := []func(rng *rand.Rand, i int) float64{
		func(rng *rand.Rand, _ int) float64 { return math.Round(rng.Float64()*10000) / 100 },
		func(_ *rand.Rand, i int) float64 { return float64(1_000_000_000 + 997*i) },
		func(rng *rand.Rand, _ int) float64 { return rng.NormFloat64() },
		func(rng *rand.Rand, _ int) float64 {
			switch rng.IntN(40) {
			case 0:
				return math.Copysign(0, -1)
			case 1:
				return rng.Float64() * 1e300
			case 2:
				return math.Round(rng.Float64()*1e6) / 1e6
			}
			return float64(rng.IntN(100))
		},
	}
	// A quarter of the steps under the race detector (it finds nothing in
	// this single-goroutine code and slows it several times over) and under
	// -short; plain go test and make fuzz run 20,000.
	steps := 20_000
	if testing.Short() || race.Enabled {
		steps = 5_000
	}
	for ki, kind := range kinds {
		for _, seconds := range []bool{true, false} {
			rng := rand.New(rand.NewPCG(uint64(ki), 9))
			r := rawSamples{back: 60_000}
			var want []sample
			ts := int64(1_761_040_800_000)
			for i := range steps {
				switch op := rng.IntN(100); {
				case op < 70:
					step := 1 + rng.Int64N(20_000)
					if rng.IntN(200) == 0 {
						step = rng.Int64N(100 * 3600_000)
					}
					ts += step
					at := ts - rng.Int64N(3)*rng.Int64N(60_000)
					if seconds {
						at -= ((at % 1000) + 1000) % 1000
					}
					v := kind(rng, i)
					p := r.insert(at, v)
					q := len(want)
					for q > 0 && want[q-1].ts > at {
						q--
					}
					if p-r.head != q {
						t.Fatalf("kind %d step %d: inserted at %d, want %d", ki, i, p-r.head, q)
					}
					want = slices.Insert(want, q, sample{at, v})
				case op < 74 && len(want) > 0:
					p0 := rng.IntN(len(want))
					p1 := p0 + rng.IntN(min(17, len(want)-p0)+1)
					r.remove(r.head+p0, r.head+p1)
					want = slices.Delete(want, p0, p1)
				case op < 78 && len(want) > 0:
					cut := want[0].ts + rng.Int64N(40_000)
					if rng.IntN(50) == 0 {
						cut = want[rng.IntN(len(want))].ts - rng.Int64N(2)
					}
					r.expire(cut)
					for len(want) > 0 && want[0].ts < cut {
						want = want[1:]
					}
				}
				got := r.load(nil, r.head, r.n)
				if len(got) != len(want) {
					t.Fatalf("kind %d step %d: %d samples, want %d", ki, i, len(got), len(want))
				}
				for k := range got {
					if got[k].ts != want[k].ts || math.Float64bits(got[k].v) != math.Float64bits(want[k].v) {
						t.Fatalf("kind %d step %d: sample %d = %v, want %v", ki, i, k, got[k], want[k])
					}
				}
				if len(want) > 0 {
					at := want[rng.IntN(len(want))].ts + rng.Int64N(3) - 1
					q := 0
					for q < len(want) && want[q].ts < at {
						q++
					}
					if p := r.search(at); p-r.head != q {
						t.Fatalf("kind %d step %d: search(%d) = %d, want %d", ki, i, at, p-r.head, q)
					}
				}
			}
		}
	}
}

// TestRawColumnsNarrowAgain: one full-precision value widens the value
// column of a sparse gauge from 2 to 8 bytes; once it has expired, the
// column is 2 bytes wide again.
func TestRawColumnsNarrowAgain(t *testing.T) {
	s := NewSeries(DefaultConfig())
	ts := baseTs
	add := func(v float64) {
		ts += 10_000
		if _, err := s.Add(ts, v); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 720 {
		add(float64(4000+i%97) / 100)
	}
	if s.raw.tw != 2 || s.raw.vw != 2 {
		t.Fatalf("columns of %d and %d bytes, want 2 and 2", s.raw.tw, s.raw.vw)
	}
	add(math.Pi)
	if s.raw.vw != 8 {
		t.Fatalf("a value column of %d bytes holds pi", s.raw.vw)
	}
	for i := range 720 {
		add(float64(4000+i%97) / 100)
	}
	if s.raw.tw != 2 || s.raw.vw != 2 {
		t.Fatalf("columns of %d and %d bytes an hour after pi, want 2 and 2", s.raw.tw, s.raw.vw)
	}
	if n := s.raw.live(); len(s.raw.buf) > capacityFor(n)*4*3/2 {
		t.Fatalf("%d bytes for %d samples", len(s.raw.buf), n)
	}
}

// TestLevelRawCounts drives random streams (regular, dense bursts, late
// samples, jumps past every window, decoded copies) and checks after every
// Add that each level counts exactly the raw samples in its time span.
func TestLevelRawCounts(t *testing.T) {
	configs := []Config{
		{},
		{Windows: []time.Duration{3 * time.Second, 6 * time.Second}, Lateness: time.Second, HalfLives: []time.Duration{time.Second}},
	}
	for ci, cfg := range configs {
		rng := rand.New(rand.NewPCG(11, uint64(ci)))
		s := NewSeries(cfg)
		ts := baseTs
		for i := range 20_000 {
			switch r := rng.IntN(100); {
			case r < 60:
				ts += s.levels[0].width * 5
			case r < 90:
				ts += rng.Int64N(200)
			case r < 98:
				ts += rng.Int64N(s.levels[len(s.levels)-1].win / 4)
			default:
				ts += rng.Int64N(3 * s.levels[len(s.levels)-1].win)
			}
			at := ts
			if rng.IntN(5) == 0 {
				at -= rng.Int64N(s.lateness)
			}
			if _, err := s.Add(at, float64(rng.IntN(1000))/10); err != nil {
				t.Fatal(err)
			}
			if i%997 == 0 {
				d, _, err := DecodeSeries(s.cfg, s.AppendBinary(nil))
				if err != nil {
					t.Fatal(err)
				}
				s = d
			}
			total := 0
			for k := range s.levels {
				lv := &s.levels[k]
				n := s.rawIndex(lv.hi*lv.width) - s.rawIndex(lv.lo*lv.width)
				if int(lv.raw) != n {
					t.Fatalf("config %d step %d level %d: counts %d raw samples, holds %d", ci, i, k, lv.raw, n)
				}
				total += n
			}
			if total != s.raw.live() {
				t.Fatalf("config %d step %d: levels hold %d raw samples of %d", ci, i, total, s.raw.live())
			}
		}
	}
}
