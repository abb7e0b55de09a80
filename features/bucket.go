package features

import "math"

// agg is a bucket whose samples were folded into summary statistics. It
// exists only once a bucket holds more than rawPerBucket samples; smaller
// buckets keep their samples exact in Series.raw.
//
// Times inside an agg are millisecond offsets t' = ts - start from the
// start of the bucket that holds it; st and stt are sums of whole numbers
// and so stay exact in a float64 up to 2^53.
type agg struct {
	n               int64
	firstTs, lastTs int64 // absolute, ms
	first, last     float64
	sum, min, max   float64
	m2              float64 // Σ (v - mean v)²
	st, stt         float64 // Σ t', Σ t'²
	ctv             float64 // Σ (t' - mean t')(v - mean v)
	inc             float64 // counter increase between consecutive samples inside the bucket (counters only)
	bins            []bin   // quantile sketch of the bucket's values
	// times are the event times folded in, while the bucket is in level 0
	// and can still take samples (see timeSet); nil otherwise.
	times *timeSet
}

// counterStep is the increase from prev to next under counter semantics:
// a drop is a reset and the new value counts in full (PromQL rate).
func counterStep(prev, next float64) float64 {
	if next >= prev {
		return next - prev
	}
	return next
}

func (a *agg) clear() {
	bins := a.bins[:0]
	*a = agg{bins: bins}
}

// add folds one sample in. Samples normally arrive in time order; a sample
// before firstTs or at/after lastTs keeps first, last and inc exact. A late
// sample strictly inside (firstTs, lastTs) cannot be placed between its
// unknown neighbours: inc is left unchanged, which is exact for a counter
// that did not reset around it (a monotone value inserted between two
// others does not change last - first).
func (a *agg) add(start, ts int64, v float64, counter bool) {
	tp := float64(ts - start)
	if a.n == 0 {
		a.n = 1
		a.firstTs, a.lastTs = ts, ts
		a.first, a.last = v, v
		a.sum, a.min, a.max = v, v, v
		a.m2, a.ctv, a.inc = 0, 0, 0
		a.st, a.stt = tp, tp*tp
		a.bins = append(a.bins[:0], bin{key: sketchKey(v), n: 1})
		return
	}
	n0 := float64(a.n)
	meanV0 := a.sum / n0
	meanT0 := a.st / n0
	a.n++
	a.sum += v
	meanV1 := a.sum / float64(a.n)
	a.m2 += (v - meanV0) * (v - meanV1)
	a.ctv += (tp - meanT0) * (v - meanV1)
	a.st += tp
	a.stt += tp * tp
	a.min = math.Min(a.min, v)
	a.max = math.Max(a.max, v)
	switch {
	case ts >= a.lastTs:
		if counter {
			a.inc += counterStep(a.last, v)
		}
		a.last, a.lastTs = v, ts
	case ts < a.firstTs:
		if counter {
			a.inc += counterStep(v, a.first)
		}
		a.first, a.firstTs = v, ts
	}
	a.bins = addKey(a.bins, sketchKey(v))
}

// merge folds b in; b's start is shift ms after a's. b's samples are all
// at or after a's (merges happen in time order).
func (a *agg) merge(b *agg, shift float64, counter bool) {
	if b.n == 0 {
		return
	}
	nb := float64(b.n)
	stb := b.st + nb*shift
	sttb := b.stt + 2*shift*b.st + nb*shift*shift
	if a.n == 0 {
		bins, times := append(a.bins[:0], b.bins...), a.times
		*a = *b
		a.bins, a.times = bins, times
		a.st, a.stt = stb, sttb
		return
	}
	na := float64(a.n)
	f := na * nb / (na + nb)
	dT := stb/nb - a.st/na
	dV := b.sum/nb - a.sum/na
	a.m2 += b.m2 + dV*dV*f
	a.ctv += b.ctv + dT*dV*f
	a.st += stb
	a.stt += sttb
	a.n += b.n
	a.sum += b.sum
	a.min = math.Min(a.min, b.min)
	a.max = math.Max(a.max, b.max)
	if counter {
		a.inc += b.inc + counterStep(a.last, b.first)
	}
	a.last, a.lastTs = b.last, b.lastTs
	a.bins = mergeBins(a.bins, b.bins)
}
