package features

import (
	"encoding/binary"
	"math"
	"slices"
)

// rawSamples holds the raw samples of a series, sorted by time (and by
// arrival for equal times, which only the version 1 layout kept), the live
// ones at indexes [head, n). A sparse stream's series is mostly these
// samples (360 of them for an hour at one per 10 s), so they are packed in
// one buffer of two columns, capacity c samples each, whose widths are the
// narrowest that hold the live samples exactly:
//
//   - times: unsigned offsets of 2 or 4 bytes from tbase, in units of tunit
//     ms (1000 when every time is a whole second, else 1);
//   - values: when every value is a decimal m/10^vk (vk in 0..6, as the
//     encoding finds them), m - vbase in 2 or 4 signed bytes; else the 8
//     IEEE bytes (vk = -1).
//
// A value m/10^vk is read back as float64(m)/10^vk, the double it was:
// both m and 10^vk are exact, and a division is correctly rounded. A
// sample that does not fit the columns widens them; a compaction narrows
// them again once the samples that needed the width have left (checked
// every few compactions). At steady state the buffer holds about a 32nd
// more than the live samples, which move down over the expired ones when
// it is full: appends allocate nothing.
type rawSamples struct {
	buf     []byte
	c       int // capacity, in samples
	head, n int
	tbase   int64
	tunit   int64
	vbase   int64
	// back is how far before the oldest sample a late one may land (the
	// lateness, at most maxSpan): tbase leaves room for it.
	back uint32
	// fitLive is the live count of the last shrink to fit (0: none since
	// the buffer grew).
	fitLive int32
	tw      int8 // bytes per time: 2 or 4; 0 before the first sample
	vk      int8
	vw      int8 // bytes per value: 2, 4 or 8 (vk = -1)
	// compactions counts down to the next attempt at narrowing the columns;
	// narrowEvery doubles after an attempt that found nothing to narrow.
	compactions, narrowEvery uint8
}

// rawForm is a choice of column widths and their bases.
type rawForm struct {
	tbase, tunit int64
	tw, vk, vw   int
	vbase        int64
}

func (f rawForm) width() int { return f.tw + f.vw }

func (r *rawSamples) form() rawForm {
	return rawForm{tbase: r.tbase, tunit: r.tunit, tw: int(r.tw), vk: int(r.vk), vw: int(r.vw), vbase: r.vbase}
}

func (r *rawSamples) live() int { return r.n - r.head }

// ts is the time of sample i.
func (r *rawSamples) ts(i int) int64 {
	if r.tw == 2 {
		return r.tbase + int64(binary.LittleEndian.Uint16(r.buf[2*i:]))*r.tunit
	}
	return r.tbase + int64(binary.LittleEndian.Uint32(r.buf[4*i:]))*r.tunit
}

// v is the value of sample i.
func (r *rawSamples) v(i int) float64 {
	o := r.c * int(r.tw)
	switch r.vw {
	case 2:
		return decimalValue(r.vbase+int64(int16(binary.LittleEndian.Uint16(r.buf[o+2*i:]))), int(r.vk))
	case 4:
		return decimalValue(r.vbase+int64(int32(binary.LittleEndian.Uint32(r.buf[o+4*i:]))), int(r.vk))
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(r.buf[o+8*i:]))
}

func decimalValue(m int64, k int) float64 {
	if k == 0 {
		return float64(m)
	}
	return float64(m) / pow10[k]
}

// load appends samples [from, to) to dst, a column at a time.
func (r *rawSamples) load(dst []sample, from, to int) []sample {
	n := len(dst)
	dst = slices.Grow(dst, to-from)[:n+to-from]
	out := dst[n:]
	base, unit := r.tbase, r.tunit
	if r.tw == 2 {
		b := r.buf[2*from : 2*to]
		for i := range out {
			out[i].ts = base + int64(binary.LittleEndian.Uint16(b[2*i:]))*unit
		}
	} else {
		b := r.buf[4*from : 4*to]
		for i := range out {
			out[i].ts = base + int64(binary.LittleEndian.Uint32(b[4*i:]))*unit
		}
	}
	o := r.c * int(r.tw)
	vbase := r.vbase
	switch {
	case r.vw == 8:
		b := r.buf[o+8*from : o+8*to]
		for i := range out {
			out[i].v = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
	case r.vk == 0 && r.vw == 2:
		b := r.buf[o+2*from : o+2*to]
		for i := range out {
			out[i].v = float64(vbase + int64(int16(binary.LittleEndian.Uint16(b[2*i:]))))
		}
	case r.vw == 2:
		b := r.buf[o+2*from : o+2*to]
		p := pow10[r.vk]
		for i := range out {
			out[i].v = float64(vbase+int64(int16(binary.LittleEndian.Uint16(b[2*i:])))) / p
		}
	case r.vk == 0:
		b := r.buf[o+4*from : o+4*to]
		for i := range out {
			out[i].v = float64(vbase + int64(int32(binary.LittleEndian.Uint32(b[4*i:]))))
		}
	default:
		b := r.buf[o+4*from : o+4*to]
		p := pow10[r.vk]
		for i := range out {
			out[i].v = float64(vbase+int64(int32(binary.LittleEndian.Uint32(b[4*i:])))) / p
		}
	}
	return dst
}

// search is the first index in [head, n) with time >= t: a binary search
// on the stored offsets whose steps compile to conditional moves.
func (r *rawSamples) search(t int64) int {
	lo, n := r.head, r.n-r.head
	if n == 0 || t <= r.tbase {
		return lo
	}
	o := (t - r.tbase + r.tunit - 1) / r.tunit
	if r.tw == 2 {
		if o > math.MaxUint16 {
			return r.n
		}
		b := r.buf[:2*r.n]
		for n > 1 {
			half := n / 2
			if int64(binary.LittleEndian.Uint16(b[2*(lo+half):])) < o {
				lo += half
			}
			n -= half
		}
		if int64(binary.LittleEndian.Uint16(b[2*lo:])) < o {
			lo++
		}
		return lo
	}
	if o > math.MaxUint32 {
		return r.n
	}
	b := r.buf[:4*r.n]
	for n > 1 {
		half := n / 2
		if int64(binary.LittleEndian.Uint32(b[4*(lo+half):])) < o {
			lo += half
		}
		n -= half
	}
	if int64(binary.LittleEndian.Uint32(b[4*lo:])) < o {
		lo++
	}
	return lo
}

// timeCode is the stored offset of time t, if the time column holds it.
func (f *rawForm) timeCode(t int64) (uint64, bool) {
	if f.tw == 0 || t < f.tbase || (t-f.tbase)%f.tunit != 0 {
		return 0, false
	}
	o := uint64((t - f.tbase) / f.tunit)
	return o, o <= maxUnsigned(f.tw)
}

// valueCode is the stored form of v, if the value column holds it.
func (f *rawForm) valueCode(v float64) (uint64, bool) {
	if f.vk < 0 {
		return math.Float64bits(v), true
	}
	m, ok := decimalOf(v, f.vk)
	if !ok {
		return 0, false
	}
	return f.mantissaCode(m)
}

func (f *rawForm) mantissaCode(m int64) (uint64, bool) {
	d := m - f.vbase
	if f.vw == 2 {
		return uint64(uint16(int16(d))), d >= math.MinInt16 && d <= math.MaxInt16
	}
	return uint64(uint32(int32(d))), d >= math.MinInt32 && d <= math.MaxInt32
}

func maxUnsigned(w int) uint64 {
	if w == 2 {
		return math.MaxUint16
	}
	return math.MaxUint32
}

func (r *rawSamples) putTime(i int, o uint64) {
	if r.tw == 2 {
		binary.LittleEndian.PutUint16(r.buf[2*i:], uint16(o))
	} else {
		binary.LittleEndian.PutUint32(r.buf[4*i:], uint32(o))
	}
}

func (r *rawSamples) putValue(i int, c uint64) {
	o := r.c * int(r.tw)
	switch r.vw {
	case 2:
		binary.LittleEndian.PutUint16(r.buf[o+2*i:], uint16(c))
	case 4:
		binary.LittleEndian.PutUint32(r.buf[o+4*i:], uint32(c))
	default:
		binary.LittleEndian.PutUint64(r.buf[o+8*i:], c)
	}
}

// move copies samples [from, from+k) to [to, to+k) in both columns.
func (r *rawSamples) move(to, from, k int) {
	tw, vw := int(r.tw), int(r.vw)
	copy(r.buf[to*tw:(to+k)*tw], r.buf[from*tw:(from+k)*tw])
	o := r.c * tw
	copy(r.buf[o+to*vw:o+(to+k)*vw], r.buf[o+from*vw:o+(from+k)*vw])
}

// insert adds a sample after every sample at or before its time and
// returns its index.
func (r *rawSamples) insert(t int64, v float64) int {
	if r.tw == 0 {
		r.reform(r.choose([]sample{{t, v}}), 1)
	} else if r.n == r.c {
		r.makeRoom(t, v)
	}
	f := r.form()
	to, okT := f.timeCode(t)
	vc, okV := f.valueCode(v)
	if !okT || !okV {
		if !r.rebase(t, v) {
			r.reform(r.choose([]sample{{t, v}}), r.live()+1)
		}
		f = r.form()
		to, _ = f.timeCode(t)
		vc, _ = f.valueCode(v)
	}
	p := r.n
	if r.n > r.head && r.ts(r.n-1) > t {
		p = r.search(t + 1)
		r.move(p+1, p, r.n-p)
	}
	r.putTime(p, to)
	r.putValue(p, vc)
	r.n++
	return p
}

// remove drops samples [p0, p1).
func (r *rawSamples) remove(p0, p1 int) {
	r.move(p0, p1, r.n-p1)
	r.n -= p1 - p0
	if r.n == r.head {
		r.head, r.n = 0, 0
	}
}

// expire drops the samples older than t: usually none or a few, stepped
// over, else found by a search.
func (r *rawSamples) expire(t int64) {
	for k := 0; r.head < r.n && r.ts(r.head) < t; k++ {
		if k == 8 {
			r.head = r.search(t)
			break
		}
		r.head++
	}
	if r.head == r.n {
		r.head, r.n = 0, 0
	}
}

// makeRoom makes room for one more sample (t, v) when the buffer is full.
// While the series grows (hardly any sample has expired) the buffer grows
// by a quarter; at steady state the live samples move down over the
// expired ones, the buffer shrinks to fit when it is far too large, and
// now and then the columns are narrowed.
func (r *rawSamples) makeRoom(t int64, v float64) {
	live := r.live()
	if r.head < live/64+1 {
		r.reform(r.form(), live+live/4+1)
		r.fitLive = 0
		return
	}
	if r.narrowEvery == 0 {
		r.narrowEvery = 8
	}
	if w := r.form().width(); w > 4 {
		if r.compactions++; r.compactions >= r.narrowEvery {
			r.compactions = 0
			if f := r.choose([]sample{{t, v}}); 4*f.width() <= 3*w {
				r.narrowEvery = 8
				r.reform(f, live+1)
				return
			}
			r.narrowEvery = min(2*r.narrowEvery, 128)
		}
	}
	// Shrink to fit an eighth of slack: the size class may give back the
	// same size, so a try is not repeated until the series shrinks more.
	if 8*r.c > 9*capacityFor(live+1) && (r.fitLive == 0 || 8*live < 7*int(r.fitLive)) {
		r.reform(r.form(), live+1)
		r.fitLive = int32(live)
		return
	}
	r.move(0, r.head, live)
	r.head, r.n = 0, live
}

// capacityFor is the capacity a buffer gets for n samples: a 32nd more,
// and what the allocation's size class rounds it up to.
func capacityFor(n int) int { return n + n/32 + 2 }

// rebase moves the bases of the columns, keeping their widths, units and
// scale, so that they hold the live samples and (t, v), and reports
// whether it could: a stream moving on in time, or a counter growing,
// needs new bases now and then, not wider columns.
func (r *rawSamples) rebase(t int64, v float64) bool {
	f := r.form()
	if t%f.tunit != 0 {
		return false
	}
	var m int64
	if f.vk >= 0 {
		var ok bool
		if m, ok = decimalOf(v, f.vk); !ok {
			return false
		}
	}
	tlo, thi, mlo, mhi := t, t, m, m
	if r.n > r.head {
		tlo, thi = min(tlo, r.ts(r.head)), max(thi, r.ts(r.n-1))
		if f.vk >= 0 {
			for i := r.head; i < r.n; i++ {
				x := r.mantissa(i)
				mlo, mhi = min(mlo, x), max(mhi, x)
			}
		}
	}
	f.tbase = floorDiv(tlo-int64(r.back), f.tunit) * f.tunit
	if _, ok := f.timeCode(thi); !ok {
		return false
	}
	if f.vk >= 0 {
		f.vbase = mlo + (mhi-mlo)/2
		if _, ok := f.mantissaCode(mlo); !ok {
			return false
		}
		if _, ok := f.mantissaCode(mhi); !ok {
			return false
		}
	}
	for i := r.head; i < r.n; i++ {
		to, _ := f.timeCode(r.ts(i))
		var vc uint64
		if f.vk >= 0 {
			vc, _ = f.mantissaCode(r.mantissa(i))
		}
		r.putTime(i, to)
		if f.vk >= 0 {
			r.putValue(i, vc)
		}
	}
	r.tbase, r.vbase = f.tbase, f.vbase
	return true
}

// mantissa is the decimal mantissa of sample i (vk >= 0).
func (r *rawSamples) mantissa(i int) int64 {
	o := r.c * int(r.tw)
	if r.vw == 2 {
		return r.vbase + int64(int16(binary.LittleEndian.Uint16(r.buf[o+2*i:])))
	}
	return r.vbase + int64(int32(binary.LittleEndian.Uint32(r.buf[o+4*i:])))
}

// choose finds the narrowest form that holds the live samples and extra.
func (r *rawSamples) choose(extra []sample) rawForm {
	tlo, thi := int64(math.MaxInt64), int64(math.MinInt64)
	seconds := true
	k := 0
	note := func(ts int64, v float64) {
		tlo, thi = min(tlo, ts), max(thi, ts)
		seconds = seconds && ts%1000 == 0
		if k >= 0 {
			if _, kv := decimal(v); kv < 0 {
				k = -1
			} else {
				k = max(k, kv)
			}
		}
	}
	for _, x := range extra {
		note(x.ts, x.v)
	}
	for i := r.head; i < r.n; i++ {
		note(r.ts(i), r.v(i))
	}
	f := rawForm{tunit: 1, tw: 4, vk: -1, vw: 8}
	if seconds {
		f.tunit = 1000
	}
	f.tbase = floorDiv(tlo-int64(r.back), f.tunit) * f.tunit
	if (thi-f.tbase)/f.tunit <= math.MaxUint16 {
		f.tw = 2
	}
	if k < 0 {
		return f
	}
	// The mantissas at scale k: exact integers of at most 2^53, or no
	// decimal form after all.
	mlo, mhi := int64(math.MaxInt64), int64(math.MinInt64)
	fits := true
	mant := func(v float64) {
		m, ok := decimalOf(v, k)
		fits = fits && ok
		mlo, mhi = min(mlo, m), max(mhi, m)
	}
	for _, x := range extra {
		mant(x.v)
	}
	for i := r.head; i < r.n && fits; i++ {
		mant(r.v(i))
	}
	if !fits {
		return f
	}
	f.vk, f.vbase = k, mlo+(mhi-mlo)/2
	switch {
	case mhi-f.vbase <= math.MaxInt16 && mlo-f.vbase >= math.MinInt16:
		f.vw = 2
	case mhi-f.vbase <= math.MaxInt32 && mlo-f.vbase >= math.MinInt32:
		f.vw = 4
	default:
		f.vk = -1
	}
	return f
}

// build fills an empty store with samples, sorted by time, whose values
// are decs (as decoded: v = float64(m)/10^k exactly, or k = -1). The
// columns are chosen from the decimals, with no float arithmetic: a value
// m/10^k is also m*10^(K-k)/10^K, the same real number and so the same
// double while that mantissa stays within 2^53.
func (r *rawSamples) build(samples []sample, decs []decimalForm) {
	if len(samples) == 0 {
		return
	}
	tlo, thi := samples[0].ts, samples[len(samples)-1].ts
	seconds := true
	k := 0
	for i, x := range samples {
		seconds = seconds && x.ts%1000 == 0
		if k >= 0 {
			k = max(k, decs[i].k)
			if decs[i].k < 0 {
				k = -1
			}
		}
	}
	f := rawForm{tunit: 1, tw: 4, vk: -1, vw: 8}
	if seconds {
		f.tunit = 1000
	}
	f.tbase = floorDiv(tlo-int64(r.back), f.tunit) * f.tunit
	if (thi-f.tbase)/f.tunit <= math.MaxUint16 {
		f.tw = 2
	}
	mlo, mhi := int64(math.MaxInt64), int64(math.MinInt64)
	for i := 0; k >= 0 && i < len(decs); i++ {
		m, ok := scaleMantissa(decs[i], k)
		if !ok {
			k = -1
			break
		}
		mlo, mhi = min(mlo, m), max(mhi, m)
	}
	if k >= 0 {
		f.vk, f.vbase = k, mlo+(mhi-mlo)/2
		switch {
		case mhi-f.vbase <= math.MaxInt16 && mlo-f.vbase >= math.MinInt16:
			f.vw = 2
		case mhi-f.vbase <= math.MaxInt32 && mlo-f.vbase >= math.MinInt32:
			f.vw = 4
		default:
			f.vk = -1
		}
	}
	r.reform(f, len(samples))
	for i, x := range samples {
		to, _ := f.timeCode(x.ts)
		var vc uint64
		if f.vk >= 0 {
			m, _ := scaleMantissa(decs[i], f.vk)
			vc, _ = f.mantissaCode(m)
		} else {
			vc = math.Float64bits(x.v)
		}
		r.putTime(i, to)
		r.putValue(i, vc)
	}
	r.n = len(samples)
}

// scaleMantissa is d's mantissa at scale k >= d.k, if within 2^53.
func scaleMantissa(d decimalForm, k int) (int64, bool) {
	m := d.m
	for range k - d.k {
		if m > maxMantissa/10 || m < -maxMantissa/10 {
			return 0, false
		}
		m *= 10
	}
	return m, true
}

// reform copies the live samples into a new buffer of form f with room
// for need samples; f holds every live sample.
func (r *rawSamples) reform(f rawForm, need int) {
	old := *r
	buf := slices.Grow([]byte(nil), capacityFor(need)*f.width())
	c := cap(buf) / f.width()
	*r = rawSamples{buf: buf[:c*f.width()], c: c, n: old.live(), back: old.back,
		tbase: f.tbase, tunit: f.tunit, tw: int8(f.tw), vk: int8(f.vk), vbase: f.vbase, vw: int8(f.vw),
		narrowEvery: old.narrowEvery, compactions: old.compactions, fitLive: old.fitLive}
	if f == old.form() {
		tw, vw := f.tw, f.vw
		copy(r.buf[:r.n*tw], old.buf[old.head*tw:old.n*tw])
		o, oo := r.c*tw, old.c*tw
		copy(r.buf[o:o+r.n*vw], old.buf[oo+old.head*vw:oo+old.n*vw])
		return
	}
	for i := 0; i < r.n; i++ {
		to, _ := f.timeCode(old.ts(old.head + i))
		vc, _ := f.valueCode(old.v(old.head + i))
		r.putTime(i, to)
		r.putValue(i, vc)
	}
}
