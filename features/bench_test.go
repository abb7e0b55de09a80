package features

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// Value kinds for the size figures: what agents send.
var valueKinds = []struct {
	name string
	gen  func(rng *rand.Rand, i int) float64
}{
	// cpu percent with two decimals (the typical gauge)
	{"gauge2dp", func(rng *rand.Rand, _ int) float64 { return math.Round((20+rng.Float64()*60)*100) / 100 }},
	// an integer counter growing by ~100 per sample
	{"counter", func(rng *rand.Rand, i int) float64 { return float64(1_000_000 + 100*i + rng.IntN(50)) }},
	// full-precision doubles: the worst case for the value encoding
	{"random", func(rng *rand.Rand, _ int) float64 { return 20 + rng.Float64()*60 }},
}

// fill feeds one sample every intervalMs (±10% jitter) for span of event time.
func fill(s *Series, rng *rand.Rand, intervalMs int64, span time.Duration, gen func(*rand.Rand, int) float64) int64 {
	ts := baseTs
	end := baseTs + span.Milliseconds()
	for i := 0; ts < end; i++ {
		ts += intervalMs + rng.Int64N(intervalMs/5+1) - intervalMs/10
		s.Add(ts, gen(rng, i))
	}
	return ts
}

// Documented bounds (doc.go): encoded bytes per metric with the default
// config after 2h of event time.
const (
	scenarioBound = 2048  // one sample / 10 s, short-decimal values
	denseBound    = 16384 // 10 samples / s, any values
)

// TestEncodedSize measures the encoded state per metric at the scenario rate
// (one sample per 10 s for 2 h of event time) and for a dense stream
// (10 samples per second), and asserts the documented bounds. Run with -v to
// see the figures.
func TestEncodedSize(t *testing.T) {
	for _, rate := range []struct {
		name     string
		interval int64
		bound    map[string]int
	}{
		{"scenario_10s", 10_000, map[string]int{"gauge2dp": scenarioBound, "counter": scenarioBound, "random": 4608}},
		{"dense_10_per_s", 100, map[string]int{"gauge2dp": denseBound, "counter": denseBound, "random": denseBound}},
	} {
		for _, kind := range valueKinds {
			for _, counter := range []bool{false, true} {
				if counter != (kind.name == "counter") {
					continue
				}
				cfg := DefaultConfig()
				cfg.Counter = counter
				s := NewSeries(cfg)
				rng := rand.New(rand.NewPCG(1, 2))
				maxSize := 0
				ts := baseTs
				for i := 0; ts < baseTs+(2*time.Hour).Milliseconds(); i++ {
					ts += rate.interval + rng.Int64N(rate.interval/5+1) - rate.interval/10
					s.Add(ts, kind.gen(rng, i))
					if ts > baseTs+time.Hour.Milliseconds() && i%7 == 0 {
						maxSize = max(maxSize, len(s.AppendBinary(nil)))
					}
				}
				size := len(s.AppendBinary(nil))
				t.Logf("%s %s: %d bytes at the end, %d max over the second hour", rate.name, kind.name, size, maxSize)
				if b := rate.bound[kind.name]; maxSize > b {
					t.Errorf("%s %s: %d bytes, bound %d", rate.name, kind.name, maxSize, b)
				}
			}
		}
	}
}

// TestEncodedSizeWorstCase builds the largest state the layout allows:
// every bucket of every level aggregated with sketchMaxBins bins, and checks
// it against the computed worst case.
func TestEncodedSizeWorstCase(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Counter = true
	s := NewSeries(cfg)
	rng := rand.New(rand.NewPCG(3, 4))
	// 50 samples/s of full-precision values spread over 12 decades, so
	// every bucket aggregates and fills its sketch.
	ts := baseTs
	maxSize := 0
	for i := 0; ts < baseTs+(90*time.Minute).Milliseconds(); i++ {
		ts += 20
		v := math.Exp(rng.Float64()*28-14) * float64(1-2*rng.IntN(2))
		s.Add(ts, v)
		if ts > baseTs+time.Hour.Milliseconds() && i%501 == 0 {
			maxSize = max(maxSize, len(s.AppendBinary(nil)))
		}
	}
	slots := 0
	for _, lv := range s.levels {
		slots += len(lv.slots) - 1
	}
	t.Logf("adversarial dense: %d bytes max; %d bucket slots", maxSize, slots)
	if maxSize > denseBound*2 {
		t.Errorf("adversarial dense state %d bytes exceeds %d", maxSize, denseBound*2)
	}
}

func BenchmarkAdd(b *testing.B) {
	for _, interval := range []int64{10_000, 100} {
		b.Run(time.Duration(interval*int64(time.Millisecond)).String(), func(b *testing.B) {
			s := NewSeries(DefaultConfig())
			rng := rand.New(rand.NewPCG(1, 2))
			ts := fill(s, rng, interval, 2*time.Hour, valueKinds[0].gen)
			vals := make([]float64, 1024)
			for i := range vals {
				vals[i] = valueKinds[0].gen(rng, i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ts += interval
				if _, err := s.Add(ts, vals[i&1023]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAddOutOfOrder(b *testing.B) {
	for _, interval := range []int64{10_000, 100} {
		b.Run(time.Duration(interval*int64(time.Millisecond)).String(), func(b *testing.B) {
			s := NewSeries(DefaultConfig())
			rng := rand.New(rand.NewPCG(1, 2))
			ts := fill(s, rng, interval, 2*time.Hour, valueKinds[0].gen)
			back := make([]int64, 1024)
			for i := range back {
				back[i] = rng.Int64N(50_000)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ts += interval
				// Every other sample arrives up to 50 s late.
				at := ts
				if i&1 == 1 {
					at -= back[i&1023]
				}
				if _, err := s.Add(at, 42.5); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchSeries(interval int64) *Series {
	s := NewSeries(DefaultConfig())
	fill(s, rand.New(rand.NewPCG(1, 2)), interval, 2*time.Hour, valueKinds[0].gen)
	return s
}

func BenchmarkEncode(b *testing.B) {
	for _, interval := range []int64{10_000, 100} {
		b.Run(time.Duration(interval*int64(time.Millisecond)).String(), func(b *testing.B) {
			s := benchSeries(interval)
			buf := s.AppendBinary(nil)
			b.ReportMetric(float64(len(buf)), "bytes/metric")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				buf = s.AppendBinary(buf[:0])
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, interval := range []int64{10_000, 100} {
		b.Run(time.Duration(interval*int64(time.Millisecond)).String(), func(b *testing.B) {
			s := benchSeries(interval)
			buf := s.AppendBinary(nil)
			cfg := s.Config()
			b.ReportMetric(float64(len(buf)), "bytes/metric")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, _, err := DecodeSeries(cfg, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSnapshot(b *testing.B) {
	for _, interval := range []int64{10_000, 100} {
		b.Run(time.Duration(interval*int64(time.Millisecond)).String(), func(b *testing.B) {
			s := benchSeries(interval)
			ts, _, _ := s.Last()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ts += interval
				s.Add(ts, 50)
				s.Snapshot(ts)
			}
		})
	}
}

// BenchmarkAddThenStats is the per-event work of a rule-evaluating actor:
// one Add, then three stats over three windows (the second read of a window
// is served from the per-version cache).
func BenchmarkAddThenStats(b *testing.B) {
	for _, interval := range []int64{10_000, 100} {
		b.Run(time.Duration(interval*int64(time.Millisecond)).String(), func(b *testing.B) {
			s := benchSeries(interval)
			ts, _, _ := s.Last()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ts += interval
				s.Add(ts, float64(i%100))
				s.Stat(StatAvg, 5*time.Minute, ts)
				s.Stat(StatMax, 5*time.Minute, ts)
				s.Stat(StatRate, 15*time.Minute, ts)
				s.Stat(StatP95, time.Minute, ts)
			}
		})
	}
}
