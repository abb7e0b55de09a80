package features

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// memoryStreams are the streams the memory figures are measured on: a
// sparse gauge (one sample / 10 s, ±10% jitter in whole milliseconds, 2
// decimals) and a dense one (10 samples / s).
var memoryStreams = []struct {
	name     string
	interval int64 // ms
	series   int   // how many series a run holds
}{
	{"sparse", 10_000, 2000},
	{"dense", 100, 100},
}

// feedStream feeds s with span of event time from start, one sample every
// interval ms (±10%), and returns the newest event time.
func feedStream(s *Series, rng *rand.Rand, start, interval int64, span time.Duration) int64 {
	ts := start
	for end := start + span.Milliseconds(); ts < end; {
		ts += interval + rng.Int64N(interval/5+1) - interval/10
		s.Add(ts, math.Round((20+rng.Float64()*60)*100)/100)
	}
	return ts
}

// readAsRules reads what rules and the features API read of every window:
// its average and p99.
func readAsRules(s *Series, now int64) {
	for _, w := range s.Config().Windows {
		s.Stat(StatAvg, w, now)
		s.Stat(StatP99, w, now)
	}
}

// BenchmarkSeriesHeap measures the heap a series holds after two hours of
// event time with the default windows (bytes per series after a GC):
// "held" series were only fed, "queried" ones also read as readAsRules
// reads them, 100 series to a source, which share a Scratch.
//
//	go test -run '^$' -bench SeriesHeap -benchtime 1x ./features/
func BenchmarkSeriesHeap(b *testing.B) {
	for _, st := range memoryStreams {
		for _, queried := range []bool{false, true} {
			name := st.name + "/held"
			if queried {
				name = st.name + "/queried"
			}
			b.Run(name, func(b *testing.B) {
				for b.Loop() {
					runtime.GC()
					var before, after runtime.MemStats
					runtime.ReadMemStats(&before)
					all := make([]*Series, st.series)
					scratch := make([]Scratch, (len(all)+99)/100)
					rng := rand.New(rand.NewPCG(1, 2))
					for i := range all {
						s := NewSeries(DefaultConfig())
						s.UseScratch(&scratch[i/100])
						now := feedStream(s, rng, baseTs, st.interval, 2*time.Hour)
						if queried {
							readAsRules(s, now)
						}
						all[i] = s
					}
					runtime.GC()
					runtime.ReadMemStats(&after)
					b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(len(all)), "heap-B/series")
					runtime.KeepAlive(all)
					runtime.KeepAlive(scratch)
				}
			})
		}
	}
}

// BenchmarkSourceUpdate is a source's per-sample work on its feature
// series: 100 series (10 metrics of 10 series, sharing a Scratch) in
// steady state, samples arriving round robin, each Add followed by the
// reads of a rule (the 1m average, the 5m p99). It reports the time and the
// allocations per update.
func BenchmarkSourceUpdate(b *testing.B) {
	for _, st := range memoryStreams {
		b.Run(st.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(3, 4))
			all := make([]*Series, 100)
			var sc Scratch
			var now int64
			for i := range all {
				all[i] = NewSeries(DefaultConfig())
				all[i].UseScratch(&sc)
				now = max(now, feedStream(all[i], rng, baseTs, st.interval, 2*time.Hour))
			}
			vals := make([]float64, 1024)
			for i := range vals {
				vals[i] = math.Round((20+rng.Float64()*60)*100) / 100
			}
			step := st.interval / int64(len(all))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				now += max(step, 1)
				s := all[i%len(all)]
				if _, err := s.Add(now, vals[i&1023]); err != nil {
					b.Fatal(err)
				}
				s.Stat(StatAvg, time.Minute, now)
				s.Stat(StatP99, 5*time.Minute, now)
			}
		})
	}
}
