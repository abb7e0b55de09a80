package features

import (
	"math"
	"math/rand/v2"
)

// versionOneStream is the stream testdata/series-v1.bin was encoded from
// with the version 1 layout: 12 minutes of a dense gauge (about 15 samples
// a second, one in ten up to 20 s late), then 30 s of one sample a second,
// so that the lateness horizon holds aggregated buckets and raw ones. No
// two samples share an event time.
func versionOneStream() []pt {
	rng := rand.New(rand.NewPCG(11, 12))
	seen := map[int64]bool{}
	var out []pt
	add := func(ts int64) {
		if !seen[ts] {
			seen[ts] = true
			out = append(out, pt{ts, math.Round((40+rng.Float64()*20)*100) / 100})
		}
	}
	ts := baseTs
	for ts < baseTs+12*60_000 {
		ts += 40 + rng.Int64N(50)
		if rng.IntN(10) == 0 {
			add(ts - rng.Int64N(20_000))
			continue
		}
		add(ts)
	}
	for range 30 {
		ts += 1000
		add(ts)
	}
	return out
}
