package features

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Outcome says what Add did with a sample.
type Outcome uint8

const (
	// Applied: the sample was folded into the state.
	Applied Outcome = iota
	// TooLate: the sample is older than (newest event time - Lateness) and
	// was not folded in. Callers count it and send it to a side output.
	TooLate
	// Rejected: the sample is invalid (Add also returns an error).
	Rejected
	// Duplicate: a sample at this event time was applied already (a resend);
	// the first one stays, whatever the values, and nothing changes.
	Duplicate
)

// Reasons, as written in metrics labels and dead-letter headers.
const (
	ReasonTooLate   = "too_late"
	ReasonInvalid   = "invalid"
	ReasonDuplicate = "duplicate"
)

// Errors Add returns with Rejected.
var (
	ErrNotFinite        = errors.New("value is NaN or infinite")
	ErrTimestampOutside = errors.New("timestamp out of range")
)

// Reason is the reason label of an outcome other than Applied, "" for Applied.
func (o Outcome) Reason() string {
	switch o {
	case TooLate:
		return ReasonTooLate
	case Rejected:
		return ReasonInvalid
	case Duplicate:
		return ReasonDuplicate
	}
	return ""
}

func (o Outcome) String() string {
	switch o {
	case Applied:
		return "applied"
	case TooLate:
		return ReasonTooLate
	case Rejected:
		return "rejected"
	case Duplicate:
		return ReasonDuplicate
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

type sample struct {
	ts int64
	v  float64
}

// bucket is one slot of a level: aggregated (agg != nil), or else empty
// or raw. A raw bucket's samples live in Series.raw, which is sorted by
// time, so they are counted there: the samples in the bucket's time span.
type bucket struct {
	agg *agg
}

// level holds the buckets of one width. Level i covers event times
// [lo*width, hi*width); levels are disjoint and level 0 is the newest.
type level struct {
	width int64 // bucket width, ms
	win   int64 // the window this level serves, ms
	// per is the next level's width over this one's: the lower edge of the
	// level is aligned to the next level's width, per*width (align).
	per    int64
	lo     int64 // bucket index range [lo, hi)
	hi     int64
	nslots int32 // the ring's length
	// raw counts the level's raw samples: they follow those of the coarser
	// levels in Series.raw (levels are disjoint in time, the finest newest).
	raw int32
	// slots is a ring indexed by bucket index mod nslots, holding the
	// aggregates; nil while the level has none (a sparse stream's levels
	// never do).
	slots []bucket
	aggs  int // aggregated buckets in slots: windows skip a level without any
}

// slot is bucket j (the zero bucket when the level has no aggregate).
func (l *level) slot(j int64) bucket {
	if l.slots == nil {
		return bucket{}
	}
	return l.slots[l.ring(j)]
}

// setAgg makes a the aggregate of bucket j (nil: none), allocating the
// ring for the level's first aggregate.
func (l *level) setAgg(j int64, a *agg) {
	if l.slots == nil {
		if a == nil {
			return
		}
		l.slots = make([]bucket, l.nslots)
	}
	l.slots[l.ring(j)].agg = a
}

// ring is the position of bucket j in slots.
func (l *level) ring(j int64) int {
	n := int64(l.nslots)
	m := j % n
	if m < 0 {
		m += n
	}
	return int(m)
}

type ewma struct {
	halfLife float64 // ms
	mean     float64
	m2       float64 // Σ w (v - mean)²
	w        float64 // Σ w, weights decayed to the newest event time
	// decay = 2^(-decayDt/halfLife) for the last advance: regular streams
	// advance by the same step every time, and reusing the factor is exact.
	decayDt, decay float64
}

// Series is the windowed state of one metric. It is not safe for
// concurrent use; an actor owns it. The zero value is not usable: use
// NewSeries or DecodeSeries.
type Series struct {
	cfg      Config
	fp       uint16
	has      bool
	lateness int64
	levels   []level

	newest int64   // newest event time seen, ms: every window ends here
	lastV  float64 // value of the newest sample

	// raw holds the exact samples of raw buckets, sorted by (ts, arrival).
	// Event times are distinct, except in states decoded from the version 1
	// layout, which kept resends.
	raw rawSamples

	// times counts the live time sets; timesLo is the first bucket of level
	// 0 that may hold one, the one holding newest - lateness (older buckets
	// cannot take samples), kept while times > 0.
	times   int
	timesLo int64
	// spare holds recycled aggregates and time sets, so that steady-state
	// Add does not allocate; nil until the series first aggregates.
	spare *spares

	ewmas []ewma

	// sc holds the buffers of window reads, shared with the other series of
	// the owner (see Scratch).
	sc *Scratch

	// rawEpoch changes whenever raw samples change other than by appending
	// after the newest event time or expiring: sortedRaw keeps the sorted
	// values of windows across Adds within an epoch.
	rawEpoch uint64

	// version counts applied samples; the scratch holds a window's stats
	// as of a version, so that a rule reading several stats walks a window
	// once.
	version uint64
}

type spares struct {
	aggs  []*agg
	times []*timeSet
}

func (s *Series) spares() *spares {
	if s.spare == nil {
		s.spare = &spares{}
	}
	return s.spare
}

type cachedStats struct {
	owner   *Series
	version uint64 // 0: empty
	st      WindowStats
}

// NewSeries returns an empty series. It panics if cfg.Validate fails:
// validate configs where they are read.
func NewSeries(cfg Config) *Series {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	cfg = cfg.withDefaults()
	cfg.Windows = append([]time.Duration(nil), cfg.Windows...)
	cfg.HalfLives = append([]time.Duration(nil), cfg.HalfLives...)
	s := &Series{cfg: cfg, fp: cfg.fingerprint(), lateness: cfg.Lateness.Milliseconds()}
	s.raw.back = uint32(s.lateness)
	n := len(cfg.Windows)
	s.levels = make([]level, n)
	for i, w := range cfg.Windows {
		s.levels[i].win = w.Milliseconds()
		s.levels[i].width = s.levels[i].win / bucketsPerWindow
	}
	for i := range s.levels {
		lv := &s.levels[i]
		align := lv.width
		if i+1 < n {
			align = s.levels[i+1].width
		}
		lv.per = align / lv.width
		var prevWin int64
		if i > 0 {
			prevWin = s.levels[i-1].win
		}
		// Level i spans less than win - prevWin + align (+ one bucket for
		// the newest partial bucket at level 0).
		lv.nslots = int32((lv.win-prevWin+align)/lv.width + 2)
	}
	s.ewmas = make([]ewma, len(cfg.HalfLives))
	for i, h := range cfg.HalfLives {
		s.ewmas[i].halfLife = float64(h) / float64(time.Millisecond)
	}
	return s
}

// Config returns the config in force (defaults filled in).
func (s *Series) Config() Config { return s.cfg }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// ranges computes each level's bucket index range for newest time t. Level
// i starts at cut = floor((t - win) / align) * align; align is the next
// level's width, a multiple of this one's, so the start's bucket index here
// is q * (align / width) and, one level up, q itself: one division a level.
func (s *Series) ranges(t int64, lo, hi *[maxWindows]int64) {
	var prevQ int64
	for i := range s.levels {
		lv := &s.levels[i]
		q := floorDiv(t-lv.win, lv.per*lv.width)
		lo[i] = q * lv.per
		if i == 0 {
			hi[i] = floorDiv(t, lv.width) + 1
		} else {
			hi[i] = prevQ
		}
		prevQ = q
	}
}

// Add folds a sample at event time tsUnixMilli into the state. A sample at
// an event time already applied is a Duplicate and changes nothing.
func (s *Series) Add(tsUnixMilli int64, v float64) (Outcome, error) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return Rejected, fmt.Errorf("features: add %v at %d: %w", v, tsUnixMilli, ErrNotFinite)
	}
	if tsUnixMilli > maxAbsTs || tsUnixMilli < -maxAbsTs {
		return Rejected, fmt.Errorf("features: add at %d: %w", tsUnixMilli, ErrTimestampOutside)
	}
	ts := tsUnixMilli
	if !s.has {
		s.has = true
		s.newest = ts
		var lo, hi [maxWindows]int64
		s.ranges(ts, &lo, &hi)
		for i := range s.levels {
			s.levels[i].lo, s.levels[i].hi = lo[i], hi[i]
		}
	} else if ts < s.newest-s.lateness {
		return TooLate, nil
	} else if ts <= s.newest {
		if s.applied(ts) {
			return Duplicate, nil
		}
		// Not after every raw sample: sorted windows are rebuilt.
		s.rawEpoch++
	}
	if ts > s.newest {
		s.advance(ts)
	}
	for i := range s.levels {
		lv := &s.levels[i]
		if ts < lv.lo*lv.width {
			continue
		}
		j := floorDiv(ts, lv.width)
		start := j * lv.width
		if a := lv.slot(j).agg; a != nil {
			a.add(start, ts, v, s.cfg.Counter)
			if t := a.times; t != nil {
				t.add(ts-start, lv.width)
			}
		} else {
			p := s.insertRaw(ts, v)
			lv.raw++
			if s.rawAround(p, start, start+lv.width) > rawPerBucket {
				a := s.newAgg()
				if i == 0 {
					if s.times == 0 {
						s.timesLo = s.horizon(s.newest)
					}
					a.times = s.rawTimes(start, lv.width)
				}
				lv.raw -= s.foldRaw(a, start, start, start+lv.width)
				lv.setAgg(j, a)
				lv.aggs++
			}
		}
		if ts >= s.newest {
			s.lastV = v
		}
		s.addEWMA(ts, v)
		s.version++
		return Applied, nil
	}
	// Unreachable while Lateness <= the finest window (Validate), kept so
	// that no state can be corrupted by a sample older than every level.
	return TooLate, nil
}

// horizon is the bucket of level 0 holding t - lateness: with newest t, no
// sample can land in an earlier one.
func (s *Series) horizon(t int64) int64 {
	return floorDiv(t-s.lateness, s.levels[0].width)
}

// applied reports whether a sample at ts, within the lateness bound (so in
// level 0) and not after the newest, was applied already. It is exact
// except in an aggregated bucket without a time set (decoded from the
// version 1 layout, or folded from raw samples that held a resend).
func (s *Series) applied(ts int64) bool {
	if ts == s.newest {
		return true
	}
	lv := &s.levels[0]
	j := floorDiv(ts, lv.width)
	if a := lv.slot(j).agg; a != nil {
		return a.times != nil && a.times.has(ts-j*lv.width)
	}
	p := s.rawIndex(ts)
	return p < s.raw.n && s.raw.ts(p) == ts
}

// rawTimes is the time set of the raw samples of the level 0 bucket
// starting at start, about to be folded; nil when two share an event time.
func (s *Series) rawTimes(start, width int64) *timeSet {
	t := s.newTimes()
	prev := int64(-1)
	for i, end := s.rawIndex(start), s.rawIndex(start+width); i < end; i++ {
		o := s.raw.ts(i) - start
		if o == prev {
			t.reset()
			sp := s.spares()
			sp.times = append(sp.times, t)
			return nil
		}
		t.add(o, width)
		prev = o
	}
	s.times++
	return t
}

func (s *Series) newTimes() *timeSet {
	if sp := s.spares(); len(sp.times) > 0 {
		n := len(sp.times)
		t := sp.times[n-1]
		sp.times = sp.times[:n-1]
		return t
	}
	return &timeSet{last: -1}
}

// forgetTimes drops the time sets of the level 0 buckets that newest t
// puts out of reach of any sample; advance calls it when there are some
// and the horizon leaves bucket timesLo.
func (s *Series) forgetTimes(t int64) {
	lv := &s.levels[0]
	h := s.horizon(t)
	for j := max(s.timesLo, lv.lo); j < min(h, lv.hi); j++ {
		if a := lv.slot(j).agg; a != nil && a.times != nil {
			s.releaseTimes(a)
		}
	}
	s.timesLo = max(s.timesLo, h)
}

func (s *Series) releaseTimes(a *agg) {
	s.times--
	a.times.reset()
	sp := s.spares()
	sp.times = append(sp.times, a.times)
	a.times = nil
}

func (s *Series) addEWMA(ts int64, v float64) {
	for k := range s.ewmas {
		e := &s.ewmas[k]
		u := 1.0
		if ts < s.newest {
			u = math.Exp2(-float64(s.newest-ts) / e.halfLife)
		}
		w1 := e.w + u
		if u == 0 || w1 == 0 {
			continue
		}
		if e.w == 0 {
			e.mean, e.m2, e.w = v, 0, u
			continue
		}
		d := v - e.mean
		e.mean += d * u / w1
		e.m2 += u * d * (v - e.mean)
		e.w = w1
	}
}

// advance moves the newest event time to t: buckets that fall out of a
// level move to the coarser level that now covers them, or expire. The work
// is bounded by the number of buckets, whatever the jump.
func (s *Series) advance(t int64) {
	dt := float64(t - s.newest)
	for k := range s.ewmas {
		e := &s.ewmas[k]
		if dt != e.decayDt {
			e.decayDt, e.decay = dt, math.Exp2(-dt/e.halfLife)
		}
		e.w *= e.decay
		e.m2 *= e.decay
	}
	if s.times > 0 && t-s.lateness >= (s.timesLo+1)*s.levels[0].width {
		s.forgetTimes(t)
	}
	s.newest = t
	var lo, hi [maxWindows]int64
	s.ranges(t, &lo, &hi)
	for i := len(s.levels) - 1; i >= 0; i-- {
		lv := &s.levels[i]
		if end := min(lv.hi, lo[i]); lv.lo < end {
			s.moveOut(i, end, &lo)
		}
		lv.lo, lv.hi = lo[i], hi[i]
		if lv.aggs == 0 {
			lv.slots = nil
		}
	}
	last := &s.levels[len(s.levels)-1]
	oldest := last.lo * last.width
	// Raw samples that expired are counted in the last level (relocate).
	live := s.raw.live()
	s.raw.expire(oldest)
	last.raw -= int32(live - s.raw.live())
}

// moveOut relocates the buckets of level i below end, which newest time
// has moved out of it, in time order: the aggregates of its ring and the
// raw buckets, found from the raw samples.
func (s *Series) moveOut(i int, end int64, lo *[maxWindows]int64) {
	lv := &s.levels[i]
	stop := end * lv.width
	// The level's raw samples follow those of the coarser levels.
	p := s.raw.head
	for d := i + 1; d < len(s.levels); d++ {
		p += int(s.levels[d].raw)
	}
	for j := lv.lo; j < end; {
		// The next bucket holding samples: the one of the next raw sample
		// (raw[p], the first at or after bucket j), or an aggregate before
		// it.
		next := end
		if p < s.raw.n && s.raw.ts(p) < stop {
			next = floorDiv(s.raw.ts(p), lv.width)
		}
		var a *agg
		if lv.aggs > 0 {
			for k := j; k < next; k++ {
				if a = lv.slot(k).agg; a != nil {
					next = k
					break
				}
			}
		}
		if next == end {
			return
		}
		if a != nil {
			lv.setAgg(next, nil)
		}
		p = s.relocate(i, next, a, p, lo)
		if a != nil {
			lv.aggs--
		}
		j = next + 1
	}
}

// relocate moves bucket j of level i, aggregated into a or else raw (its
// samples from raw[p], the first raw sample at or after its start), to the
// level that now covers its start (all of it: level edges are aligned to
// the coarser width), or drops it. It returns the index of the first raw
// sample after the bucket.
func (s *Series) relocate(i int, j int64, a *agg, p int, lo *[maxWindows]int64) int {
	src := &s.levels[i]
	start := j * src.width
	own := 0 // the bucket's raw samples, from p
	if a == nil {
		for k := p; k < s.raw.n && s.raw.ts(k) < start+src.width; k++ {
			own++
		}
	}
	for d := i + 1; d < len(s.levels); d++ {
		dl := &s.levels[d]
		if start < lo[d]*dl.width {
			continue
		}
		jd := floorDiv(start, dl.width)
		dstStart := jd * dl.width
		// Earlier sources of this destination are older than start: its
		// raw samples so far are the ones just before p.
		da := dl.slot(jd).agg
		earlier := 0
		if da == nil {
			for k := p - 1; k >= s.raw.head && s.raw.ts(k) >= dstStart; k-- {
				earlier++
			}
		}
		src.raw -= int32(own)
		if da == nil && a == nil && earlier+own <= rawPerBucket {
			dl.raw += int32(own)
			return p + own
		}
		if da == nil {
			da = s.newAgg()
			dl.setAgg(jd, da)
			dl.aggs++
			if earlier > 0 {
				dl.raw -= s.foldRaw(da, dstStart, dstStart, start)
			}
		}
		if a != nil {
			da.merge(a, float64(start-dstStart), s.cfg.Counter)
			s.freeAgg(a)
		} else {
			s.foldRaw(da, dstStart, start, start+src.width)
		}
		return s.rawIndex(start + src.width)
	}
	// Expired: raw samples are trimmed by the caller, counted in the last
	// level meanwhile (they are the oldest).
	if a != nil {
		s.freeAgg(a)
	}
	src.raw -= int32(own)
	s.levels[len(s.levels)-1].raw += int32(own)
	return p + own
}

// rawAround counts the raw samples in [from, to) around raw[p] (counted
// when in it): the samples of a bucket, at most rawPerBucket+1 of them.
func (s *Series) rawAround(p int, from, to int64) int {
	n := 0
	for k := p; k >= s.raw.head && k < s.raw.n; k-- {
		t := s.raw.ts(k)
		if t < from {
			break
		}
		if t < to {
			n++
		}
	}
	for k := p + 1; k < s.raw.n; k++ {
		t := s.raw.ts(k)
		if t >= to {
			break
		}
		if t >= from {
			n++
		}
	}
	return n
}

func (s *Series) newAgg() *agg {
	if sp := s.spares(); len(sp.aggs) > 0 {
		n := len(sp.aggs)
		a := sp.aggs[n-1]
		sp.aggs = sp.aggs[:n-1]
		return a
	}
	return &agg{bins: make([]bin, 0, 8)}
}

func (s *Series) freeAgg(a *agg) {
	if a.times != nil {
		s.releaseTimes(a)
	}
	a.clear()
	sp := s.spares()
	sp.aggs = append(sp.aggs, a)
}

// rawIndex is the first index of a live raw sample with ts >= t.
func (s *Series) rawIndex(t int64) int { return s.raw.search(t) }

// insertRaw inserts a sample in raw, after every sample with ts <= its own
// (equal times come only from the version 1 layout, which kept resends),
// and returns its index.
func (s *Series) insertRaw(ts int64, v float64) int { return s.raw.insert(ts, v) }

// foldRaw folds the raw samples with ts in [from, to) into a (whose bucket
// starts at aggStart) in time order, removes them from raw and returns how
// many there were.
func (s *Series) foldRaw(a *agg, aggStart, from, to int64) int32 {
	s.rawEpoch++
	p0 := s.rawIndex(from)
	p1 := s.rawIndex(to)
	for i := p0; i < p1; i++ {
		a.add(aggStart, s.raw.ts(i), s.raw.v(i), s.cfg.Counter)
	}
	s.raw.remove(p0, p1)
	return int32(p1 - p0)
}

// Last returns the newest sample (by event time).
func (s *Series) Last() (tsUnixMilli int64, v float64, ok bool) {
	if !s.has {
		return 0, 0, false
	}
	return s.newest, s.lastV, true
}

// Newest calls fn with up to n of the series' newest raw samples, newest
// first, until fn returns false. Samples already folded into an aggregate
// are not listed. What it lists is part of the encoded state: a series
// decoded from its changelog value lists the same samples.
func (s *Series) Newest(n int, fn func(tsUnixMilli int64, v float64) bool) {
	r := &s.raw
	for i := r.n - 1; i >= r.head && n > 0; i, n = i-1, n-1 {
		if !fn(r.ts(i), r.v(i)) {
			return
		}
	}
}

// SecondsSinceLast is the event-time age of the newest sample at now, in
// seconds, never negative; +Inf when the series has no sample.
func (s *Series) SecondsSinceLast(nowUnixMilli int64) float64 {
	if !s.has {
		return math.Inf(1)
	}
	return math.Max(0, float64(nowUnixMilli-s.newest)/1000)
}

// EWMAStats is one event-time exponentially weighted moving average.
type EWMAStats struct {
	HalfLife time.Duration
	Mean     float64
	Variance float64
}

// EWMA returns one entry per configured half-life (empty without samples).
func (s *Series) EWMA() []EWMAStats {
	if !s.has {
		return nil
	}
	out := make([]EWMAStats, len(s.ewmas))
	for i, e := range s.ewmas {
		out[i] = EWMAStats{HalfLife: s.cfg.HalfLives[i], Mean: e.mean, Variance: ewmaVar(e)}
	}
	return out
}

func ewmaVar(e ewma) float64 {
	if e.w <= 0 {
		return 0
	}
	return math.Max(0, e.m2/e.w)
}
