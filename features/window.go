package features

import (
	"cmp"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"time"
)

// WindowStats are the features of one window, which ends at the newest
// event time seen and covers (newest - window, newest]. Fields that need
// more than the window holds are 0: RatePerSec (2 samples at 2 distinct
// times), ZScore (stddev > 0), Increase and CounterRate (Counter config, 2
// samples at 2 distinct times). Stat reports those cases as not available.
type WindowStats struct {
	Count                      int64
	Sum, Avg, Min, Max, Stddev float64 // Stddev is the population stddev
	FirstTs, LastTs            int64   // event times, Unix ms
	First, Last                float64
	RatePerSec                 float64 // least-squares slope per second (PromQL deriv)
	Delta                      float64 // Last - First
	Increase                   float64 // PromQL increase(): counter increase, resets handled, extrapolated
	CounterRate                float64 // PromQL rate(): Increase / window seconds
	ZScore                     float64 // (Last - Avg) / Stddev
	P50, P95, P99              float64 // from the sketch, within SketchRelativeError

	hasRate, hasCounter, hasZ, hasQuantiles bool
}

// acc holds the moments of a window, or of a part of one. x is event time
// in seconds relative to the window end.
type acc struct {
	n               int64
	sum, min, max   float64
	mean, m2        float64
	xbar, sxx, cxy  float64
	firstTs, lastTs int64
	first, last     float64
	inc             float64
}

// rawAcc summarises raw samples (sorted by time, at most 113*16 of them)
// in one pass without a division: sums of the values shifted by the first
// one and of the times (in seconds) after the first one, from which the
// centred moments follow. Shifting by a sample of the window keeps the
// cancellation in Σd² - (Σd)²/n within a relative 4n²ε of m2 (m2 is at
// least range²/2), far inside the documented tolerances; counter: also the
// counter increase between the samples.
func rawAcc(raw []sample, end int64, counter bool) acc {
	n := len(raw)
	if n == 0 {
		return acc{}
	}
	t0, v0 := raw[0].ts, raw[0].v
	c := acc{n: int64(n), firstTs: t0, first: v0, lastTs: raw[n-1].ts, last: raw[n-1].v, min: v0, max: v0}
	var sum, sd, sdd, sx, sxx, sxd float64
	for _, r := range raw {
		v := r.v
		sum += v
		// Values are finite (Add rejects NaN), so plain comparisons order
		// them as math.Min and math.Max would.
		if v < c.min {
			c.min = v
		}
		if v > c.max {
			c.max = v
		}
		d := v - v0
		x := float64(r.ts-t0) * 0.001
		sd += d
		sdd += d * d
		sx += x
		sxx += x * x
		sxd += x * d
	}
	nf := float64(n)
	c.sum = sum
	c.mean = sum / nf
	md, mx := sd/nf, sx/nf
	c.xbar = mx + float64(t0-end)/1000
	c.m2 = sdd - md*sd
	if math.IsInf(sdd, 1) {
		// Squares overflowed (|v| > ~1e154): documented as +Inf.
		c.m2 = sdd
	}
	c.sxx = sxx - mx*sx
	c.cxy = sxd - mx*sd
	if counter {
		prev := v0
		for _, r := range raw[1:] {
			c.inc += counterStep(prev, r.v)
			prev = r.v
		}
	}
	return c
}

// addAgg folds an aggregate in after the aggregates already in c (time
// order: first, last and the counter increase between them).
func (c *acc) addAgg(a *agg, start, end int64, counter bool) {
	nb := float64(a.n)
	xb := (float64(start-end) + a.st/nb) / 1000
	sxxb := math.Max(0, a.stt-a.st*a.st/nb) / 1e6
	cxyb := a.ctv / 1000
	vb := a.sum / nb
	if c.n == 0 {
		*c = acc{n: a.n, sum: a.sum, min: a.min, max: a.max, mean: vb, m2: a.m2, xbar: xb, sxx: sxxb, cxy: cxyb,
			firstTs: a.firstTs, lastTs: a.lastTs, first: a.first, last: a.last, inc: a.inc}
		return
	}
	if counter {
		c.inc += a.inc + counterStep(c.last, a.first)
	}
	c.last, c.lastTs = a.last, a.lastTs
	// merge, written out: this runs once per aggregate of a dense window.
	na := float64(c.n)
	n := na + nb
	f := na * nb / n
	dx := xb - c.xbar
	dv := vb - c.mean
	c.n += a.n
	c.sum += a.sum
	c.min = math.Min(c.min, a.min)
	c.max = math.Max(c.max, a.max)
	c.xbar += dx * nb / n
	c.mean += dv * nb / n
	c.m2 += a.m2 + dv*dv*f
	c.sxx += sxxb + dx*dx*f
	c.cxy += cxyb + dx*dv*f
}

// merge adds b's moments to c's (Chan et al.); first, last and inc are the
// caller's.
func (c *acc) merge(b acc) {
	na, nb := float64(c.n), float64(b.n)
	n := na + nb
	f := na * nb / n
	dx := b.xbar - c.xbar
	dv := b.mean - c.mean
	c.n += b.n
	c.sum += b.sum
	c.min = math.Min(c.min, b.min)
	c.max = math.Max(c.max, b.max)
	c.xbar += dx * nb / n
	c.mean += dv * nb / n
	c.m2 += b.m2 + dv*dv*f
	c.sxx += b.sxx + dx*dx*f
	c.cxy += b.cxy + dx*dv*f
}

func (s *Series) windowIndex(d time.Duration) int {
	for i, w := range s.cfg.Windows {
		if w == d {
			return i
		}
	}
	return -1
}

// windowAgg is an aggregated bucket a window reads, with its start.
type windowAgg struct {
	a     *agg
	start int64
}

// accumulate computes window k: its raw samples (all the raw samples from
// the first one after the window's start, unpacked in the scratch) in two passes, its aggregates in time
// order, then one merged into the other. With quantiles it leaves the
// window's values for quantile in the scratch: sorted in qvals when the
// window holds only raw samples, else as a merged, sorted sketch in bins.
func (s *Series) accumulate(k int, quantiles bool) acc {
	sc := s.scratch()
	end := s.newest
	edge := end - s.levels[k].win
	counter := s.cfg.Counter
	sc.raw = s.raw.load(sc.raw[:0], s.rawIndex(edge+1), s.raw.n)
	raw := sc.raw
	aggs := sc.aggs[:0]
	for i := k; i >= 0; i-- {
		lv := &s.levels[i]
		if lv.aggs == 0 {
			continue
		}
		j0 := lv.lo
		if i == k {
			j0 = max(j0, floorDiv(edge, lv.width))
		}
		for j := j0; j < lv.hi; j++ {
			a := lv.slot(j).agg
			// An aggregate straddling the edge is left out whole: the
			// window may miss up to one bucket of samples at its start.
			if a == nil || a.firstTs <= edge {
				continue
			}
			aggs = append(aggs, windowAgg{a: a, start: j * lv.width})
		}
	}
	sc.aggs = aggs
	c := rawAcc(raw, end, counter)
	if len(aggs) > 0 {
		var ca acc
		for _, wa := range aggs {
			ca.addAgg(wa.a, wa.start, end, counter)
		}
		if c.n > 0 {
			// Raw samples and aggregates interleave in time: first, last
			// and the counter increase come from walking them in order.
			first, firstTs, last, lastTs := ca.first, ca.firstTs, ca.last, ca.lastTs
			if c.firstTs < firstTs {
				first, firstTs = c.first, c.firstTs
			}
			if c.lastTs > lastTs {
				last, lastTs = c.last, c.lastTs
			}
			ca.merge(c)
			ca.first, ca.firstTs, ca.last, ca.lastTs = first, firstTs, last, lastTs
			if counter {
				ca.inc = interleavedIncrease(raw, aggs)
			}
		}
		c = ca
	}
	if !quantiles {
		return c
	}
	sc.qsorted = len(aggs) == 0
	if sc.qsorted {
		sc.qvals = s.sortedRaw(k, raw, edge, end)
		return c
	}
	sc.bins = sc.bins[:0]
	for _, wa := range aggs {
		sc.mergeBins(wa.a.bins)
	}
	if len(raw) > 0 {
		keys := sc.rawKeys[:0]
		for _, r := range raw {
			keys = append(keys, sketchKey(r.v))
		}
		slices.Sort(keys)
		bins := sc.rawBins[:0]
		for _, k := range keys {
			if n := len(bins); n > 0 && bins[n-1].key == k {
				bins[n-1].n++
			} else {
				bins = append(bins, bin{key: k, n: 1})
			}
		}
		sc.rawKeys, sc.rawBins = keys, bins
		sc.mergeBins(bins)
	}
	return c
}

// sortedWindow holds the values of the raw samples of a window of owner
// with event times in (from, to], sorted by value, as of its rawEpoch
// epoch.
type sortedWindow struct {
	owner    *Series
	valid    bool
	epoch    uint64
	from, to int64
	vals     []valueAt
}

type valueAt struct {
	v  float64
	ts int64
}

// sortedRaw returns the values of raw (the raw samples of window k, which
// covers (edge, end]) sorted. Between two queries a window normally gains
// the samples appended since and loses those its start passed, so the
// previous order is updated in linear time rather than sorted again; any
// other change of the raw samples (a late sample, a fold into an
// aggregate) changes rawEpoch and the values are sorted from scratch.
func (s *Series) sortedRaw(k int, raw []sample, edge, end int64) []valueAt {
	sw := perWindow(&s.scratch().sorted, k, len(s.levels))
	if sw.owner != s {
		sw.valid = false
	}
	// Appended samples are inserted one by one: past a few, sorting is
	// cheaper.
	const maxInserts = 8
	var fresh []sample
	if sw.valid && sw.epoch == s.rawEpoch && edge >= sw.from && end >= sw.to {
		fresh = raw[rawSearch(raw, sw.to+1):]
	}
	if !sw.valid || sw.epoch != s.rawEpoch || edge < sw.from || end < sw.to || len(fresh) > maxInserts {
		vals := sw.vals[:0]
		for _, r := range raw {
			vals = append(vals, valueAt{v: r.v, ts: r.ts})
		}
		sortByValue(vals)
		*sw = sortedWindow{owner: s, valid: true, epoch: s.rawEpoch, from: edge, to: end, vals: vals}
		return vals
	}
	vals := sw.vals
	if edge > sw.from {
		out := vals[:0]
		for _, x := range vals {
			if x.ts > edge {
				out = append(out, x)
			}
		}
		vals = out
	}
	for _, r := range fresh {
		i, _ := slices.BinarySearchFunc(vals, r.v, func(x valueAt, v float64) int { return cmp.Compare(x.v, v) })
		vals = slices.Insert(vals, i, valueAt{v: r.v, ts: r.ts})
	}
	sw.from, sw.to, sw.vals = edge, end, vals
	return vals
}

// sortByValue sorts values by value. Series sharing a scratch sort their
// windows again whenever another one read them last, so the few values of
// a short window are sorted by insertion, without a comparison call.
func sortByValue(vals []valueAt) {
	if len(vals) > 48 {
		slices.SortFunc(vals, func(a, b valueAt) int { return cmp.Compare(a.v, b.v) })
		return
	}
	for i := 1; i < len(vals); i++ {
		x := vals[i]
		j := i
		for ; j > 0 && vals[j-1].v > x.v; j-- {
			vals[j] = vals[j-1]
		}
		vals[j] = x
	}
}

// rawSearch is the first index in raw (sorted by time) with ts >= t.
func rawSearch(raw []sample, t int64) int {
	lo, hi := 0, len(raw)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if raw[m].ts < t {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// interleavedIncrease is the counter increase over raw samples and
// aggregates (each sorted by time) walked together in time order.
func interleavedIncrease(raw []sample, aggs []windowAgg) float64 {
	var inc, prev float64
	has := false
	step := func(first float64) {
		if has {
			inc += counterStep(prev, first)
		}
		has = true
	}
	p := 0
	for _, wa := range aggs {
		for ; p < len(raw) && raw[p].ts < wa.start; p++ {
			step(raw[p].v)
			prev = raw[p].v
		}
		step(wa.a.first)
		inc += wa.a.inc
		prev = wa.a.last
	}
	for ; p < len(raw); p++ {
		step(raw[p].v)
		prev = raw[p].v
	}
	return inc
}

// mergeBins merges sorted bins into the sorted, duplicate-free sc.bins.
// Windows repeat the same few keys, so sc.bins stays short and this is
// linear in the bins read.
func (sc *Scratch) mergeBins(src []bin) {
	a := sc.bins
	out := sc.bins2[:0]
	i, j := 0, 0
	for i < len(a) && j < len(src) {
		switch {
		case a[i].key < src[j].key:
			out = append(out, a[i])
			i++
		case a[i].key > src[j].key:
			out = append(out, src[j])
			j++
		default:
			out = append(out, bin{key: a[i].key, n: a[i].n + src[j].n})
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	out = append(out, src[j:]...)
	sc.bins, sc.bins2 = out, a[:0]
}

// stats returns window k's stats from the scratch, computed if they are
// another series' or the state changed since. The pointer is valid until
// the next Add or the next read of another series sharing the scratch.
func (s *Series) stats(k int, quantiles bool) *WindowStats {
	ce := perWindow(&s.scratch().cache, k, len(s.levels))
	if ce.owner == s && ce.version == s.version+1 && (ce.st.hasQuantiles || !quantiles) {
		return &ce.st
	}
	s.computeStats(&ce.st, k, quantiles)
	ce.owner, ce.version = s, s.version+1
	return &ce.st
}

func (s *Series) computeStats(out *WindowStats, k int, quantiles bool) {
	c := s.accumulate(k, quantiles)
	st := out
	*st = WindowStats{
		Count: c.n, Sum: c.sum, Min: c.min, Max: c.max,
		FirstTs: c.firstTs, LastTs: c.lastTs, First: c.first, Last: c.last,
		Delta: c.last - c.first,
	}
	if c.n == 0 {
		return
	}
	n := float64(c.n)
	st.Avg = c.sum / n
	st.Stddev = math.Sqrt(math.Max(0, c.m2/n))
	if c.n >= 2 && c.sxx > 0 {
		st.RatePerSec = c.cxy / c.sxx
		st.hasRate = true
	}
	if st.Stddev > 0 && !math.IsInf(st.Stddev, 0) {
		st.ZScore = (c.last - st.Avg) / st.Stddev
		st.hasZ = !math.IsNaN(st.ZScore) && !math.IsInf(st.ZScore, 0)
		if !st.hasZ {
			st.ZScore = 0
		}
	}
	if s.cfg.Counter && c.n >= 2 && c.lastTs > c.firstTs {
		win := s.levels[k].win
		st.Increase = extrapolatedIncrease(c, s.newest-win, s.newest)
		st.CounterRate = st.Increase / (float64(win) / 1000)
		st.hasCounter = true
	}
	if quantiles {
		if sc := s.scratch(); sc.qsorted {
			st.P50 = sortedQuantile(sc.qvals, 0.5, c.min, c.max)
			st.P95 = sortedQuantile(sc.qvals, 0.95, c.min, c.max)
			st.P99 = sortedQuantile(sc.qvals, 0.99, c.min, c.max)
		} else {
			st.P50 = quantile(sc.bins, 0.5, c.min, c.max)
			st.P95 = quantile(sc.bins, 0.95, c.min, c.max)
			st.P99 = quantile(sc.bins, 0.99, c.min, c.max)
		}
		st.hasQuantiles = true
	}
}

// extrapolatedIncrease is PromQL's extrapolatedRate for increase() with
// the window (rangeStart, rangeEnd]: the raw counter increase between the
// first and last samples, extrapolated towards the window edges when
// samples are close enough to them, never below a zero counter value.
func extrapolatedIncrease(c acc, rangeStart, rangeEnd int64) float64 {
	result := c.inc
	durationToStart := float64(c.firstTs-rangeStart) / 1000
	durationToEnd := float64(rangeEnd-c.lastTs) / 1000
	sampled := float64(c.lastTs-c.firstTs) / 1000
	avg := sampled / float64(c.n-1)
	threshold := avg * 1.1
	ext := sampled
	if durationToStart >= threshold {
		durationToStart = avg / 2
	}
	if result > 0 && c.first >= 0 {
		if toZero := sampled * (c.first / result); toZero < durationToStart {
			durationToStart = toZero
		}
	}
	ext += durationToStart
	if durationToEnd >= threshold {
		durationToEnd = avg / 2
	}
	ext += durationToEnd
	return result * (ext / sampled)
}

// Window returns the features of a configured window; ok is false for a
// window that is not configured or a series without samples.
func (s *Series) Window(d time.Duration) (WindowStats, bool) {
	k := s.windowIndex(d)
	if k < 0 || !s.has {
		return WindowStats{}, false
	}
	return *s.stats(k, true), true
}

// Stat names.
const (
	StatCount            = "count"
	StatSum              = "sum"
	StatAvg              = "avg"
	StatMin              = "min"
	StatMax              = "max"
	StatStddev           = "stddev"
	StatFirst            = "first"
	StatLast             = "last"
	StatRate             = "rate"
	StatDelta            = "delta"
	StatIncrease         = "increase"
	StatCounterRate      = "counter_rate"
	StatZScore           = "zscore"
	StatP50              = "p50"
	StatP95              = "p95"
	StatP99              = "p99"
	StatEWMA             = "ewma"
	StatEWMVar           = "ewmvar"
	StatSecondsSinceLast = "seconds_since_last"
)

// StatNames lists every name Stat accepts.
func StatNames() []string {
	return []string{StatCount, StatSum, StatAvg, StatMin, StatMax, StatStddev, StatFirst, StatLast,
		StatRate, StatDelta, StatIncrease, StatCounterRate, StatZScore, StatP50, StatP95, StatP99,
		StatEWMA, StatEWMVar, StatSecondsSinceLast}
}

// Stat returns one feature by name, for the rule engine. Window stats take
// a configured window; "ewma" and "ewmvar" take a configured half-life in
// the window argument; "seconds_since_last" ignores window and uses now.
// ok is false for an unknown name, window or half-life, a series without
// samples, and a feature that is not available (see WindowStats).
func (s *Series) Stat(name string, window time.Duration, nowUnixMilli int64) (float64, bool) {
	if !s.has {
		return 0, false
	}
	switch name {
	case StatSecondsSinceLast:
		return s.SecondsSinceLast(nowUnixMilli), true
	case StatEWMA, StatEWMVar:
		for i, h := range s.cfg.HalfLives {
			if h == window {
				if name == StatEWMA {
					return s.ewmas[i].mean, true
				}
				return ewmaVar(s.ewmas[i]), true
			}
		}
		return 0, false
	}
	k := s.windowIndex(window)
	if k < 0 {
		return 0, false
	}
	q := name == StatP50 || name == StatP95 || name == StatP99
	st := s.stats(k, q)
	switch name {
	case StatCount:
		return float64(st.Count), true
	case StatSum:
		return st.Sum, true
	case StatAvg:
		return st.Avg, true
	case StatMin:
		return st.Min, true
	case StatMax:
		return st.Max, true
	case StatStddev:
		return st.Stddev, true
	case StatFirst:
		return st.First, true
	case StatLast:
		return st.Last, true
	case StatDelta:
		return st.Delta, true
	case StatRate:
		return st.RatePerSec, st.hasRate
	case StatIncrease:
		return st.Increase, st.hasCounter
	case StatCounterRate:
		return st.CounterRate, st.hasCounter
	case StatZScore:
		return st.ZScore, st.hasZ
	case StatP50:
		return st.P50, true
	case StatP95:
		return st.P95, true
	case StatP99:
		return st.P99, true
	}
	return 0, false
}

// Float is a float64 that JSON-encodes NaN and infinities as null, which
// encoding/json otherwise refuses, and decodes null as NaN.
type Float float64

// MarshalJSON writes the number, or null when it is not finite.
func (f Float) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

// UnmarshalJSON reads a number, or null as NaN.
func (f *Float) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = Float(math.NaN())
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = Float(v)
	return nil
}

// SeriesSnapshot is a JSON view of a series for the API.
type SeriesSnapshot struct {
	Last             *PointSnapshot              `json:"last"`
	Windows          map[string]WindowSnapshot   `json:"windows"`
	EWMA             map[string]EWMASnapshot     `json:"ewma"`
	Quantiles        map[string]QuantileSnapshot `json:"quantiles"`
	SecondsSinceLast *Float                      `json:"seconds_since_last"`
}

// PointSnapshot is one sample.
type PointSnapshot struct {
	Ts    int64 `json:"ts"`
	Value Float `json:"value"`
}

// WindowSnapshot is WindowStats without the quantiles. Increase and
// counter_rate are present for counters only, rate_per_sec and zscore only
// when available.
type WindowSnapshot struct {
	Count       int64  `json:"count"`
	Sum         Float  `json:"sum"`
	Avg         Float  `json:"avg"`
	Min         Float  `json:"min"`
	Max         Float  `json:"max"`
	Stddev      Float  `json:"stddev"`
	First       Float  `json:"first"`
	FirstTs     int64  `json:"first_ts"`
	Last        Float  `json:"last"`
	LastTs      int64  `json:"last_ts"`
	RatePerSec  Float  `json:"rate_per_sec"`
	Delta       Float  `json:"delta"`
	Increase    *Float `json:"increase,omitempty"`
	CounterRate *Float `json:"counter_rate,omitempty"`
	ZScore      *Float `json:"zscore,omitempty"`
}

// QuantileSnapshot holds one window's quantiles.
type QuantileSnapshot struct {
	P50 Float `json:"p50"`
	P95 Float `json:"p95"`
	P99 Float `json:"p99"`
}

// EWMASnapshot holds one half-life's EWMA.
type EWMASnapshot struct {
	Mean     Float `json:"mean"`
	Variance Float `json:"variance"`
}

// Snapshot returns every feature, keyed by window and half-life labels.
func (s *Series) Snapshot(nowUnixMilli int64) SeriesSnapshot {
	snap := SeriesSnapshot{
		Windows:   make(map[string]WindowSnapshot, len(s.cfg.Windows)),
		EWMA:      make(map[string]EWMASnapshot, len(s.cfg.HalfLives)),
		Quantiles: make(map[string]QuantileSnapshot, len(s.cfg.Windows)),
	}
	if !s.has {
		return snap
	}
	snap.Last = &PointSnapshot{Ts: s.newest, Value: Float(s.lastV)}
	age := Float(s.SecondsSinceLast(nowUnixMilli))
	snap.SecondsSinceLast = &age
	for k, d := range s.cfg.Windows {
		st := s.stats(k, true)
		label := WindowLabel(d)
		ws := WindowSnapshot{
			Count: st.Count, Sum: Float(st.Sum), Avg: Float(st.Avg), Min: Float(st.Min), Max: Float(st.Max),
			Stddev: Float(st.Stddev), First: Float(st.First), FirstTs: st.FirstTs, Last: Float(st.Last),
			LastTs: st.LastTs, RatePerSec: Float(st.RatePerSec), Delta: Float(st.Delta),
		}
		if st.hasCounter {
			inc, rate := Float(st.Increase), Float(st.CounterRate)
			ws.Increase, ws.CounterRate = &inc, &rate
		}
		if st.hasZ {
			z := Float(st.ZScore)
			ws.ZScore = &z
		}
		snap.Windows[label] = ws
		snap.Quantiles[label] = QuantileSnapshot{P50: Float(st.P50), P95: Float(st.P95), P99: Float(st.P99)}
	}
	for i, e := range s.ewmas {
		snap.EWMA[WindowLabel(s.cfg.HalfLives[i])] = EWMASnapshot{Mean: Float(e.mean), Variance: Float(ewmaVar(e))}
	}
	return snap
}

var _ json.Marshaler = Float(0)

// Coverage is what a configured window holds at the newest event time:
// its sample count and the event times (Unix ms) of its first and last
// sample. ok is false for a window that is not configured or a series
// without samples. It reads the window as Stat does, without quantiles,
// so it is cheap right after a Stat of the same window.
func (s *Series) Coverage(window time.Duration) (count, firstTs, lastTs int64, ok bool) {
	k := s.windowIndex(window)
	if k < 0 || !s.has {
		return 0, 0, 0, false
	}
	st := s.stats(k, false)
	return st.Count, st.FirstTs, st.LastTs, true
}
