package features

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Encoding, version 2 (all varints are encoding/binary's):
//
//	version byte (2), config fingerprint (uint16 LE), flags byte (bit 0: has samples)
//	if has samples:
//	  newest ts (varint), last value (float)
//	  per half-life: mean, m2, weight (floats)
//	  raw sample count (uvarint), then per sample, oldest first:
//	    first: uvarint(newest - ts); then zigzag varint of the change of the
//	    ts delta (delta-of-delta); value as float with the previous value as reference
//	  per level, finest first: aggregate count (uvarint), then per aggregate:
//	    bucket index gap (uvarint), n, firstTs-start, lastTs-firstTs (uvarints),
//	    first, last (float, ref first), min/max flags byte, min and max unless
//	    flagged equal to first or last (floats, ref first), sum, m2, st, stt,
//	    ctv, inc if counter (floats), sketch bins;
//	    then, in level 0 only and for a bucket at or after the one holding
//	    newest - lateness, its time set: a byte 0 (none), 1 (list: the
//	    uvarint(gap - 1) of the n-1 times after firstTs, in order) or 2
//	    (bitmap: ceil(width/8) bytes, bit o for the time start + o)
//
// Version 1 is version 2 without time sets; DecodeSeries reads both (a
// version 1 aggregate has no time set, see Series.applied).
//
// A float is one uvarint u whose low 4 bits are a tag: k = tag&7 in 0..6
// means v = m/10^k exactly for an integer m < 2^53, with m = zigzag(u>>4)
// (tag bit 3 clear) or m = m(reference) + zigzag(u>>4) (tag bit 3 set);
// tag 7 means the 8 IEEE bytes follow. Telemetry values are mostly short
// decimals (92, 37.5, 1048576), so most values take 1 to 3 bytes.
const encodingVersion = 2

// ErrCorrupt is wrapped by every DecodeSeries error about the input bytes.
var ErrCorrupt = errors.New("corrupt features state")

// ErrConfigMismatch: the state was encoded under a config with another
// layout (windows, half-lives or counter flag).
var ErrConfigMismatch = errors.New("features state encoded under another config")

var pow10 = [7]float64{1, 10, 100, 1e3, 1e4, 1e5, 1e6}

const maxMantissa = 1 << 53

// decimalOf returns m with v == m/10^k bit for bit, if there is one.
func decimalOf(v float64, k int) (int64, bool) {
	p := pow10[k]
	f := math.Round(v * p)
	if !(f <= maxMantissa && f >= -maxMantissa) {
		return 0, false
	}
	m := int64(f)
	return m, math.Float64bits(float64(m)/p) == math.Float64bits(v)
}

func zigzag(x int64) uint64   { return uint64(x<<1) ^ uint64(x>>63) }
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

func appendFloat(dst []byte, v float64) []byte {
	dst, _, _ = appendFloatDec(dst, v, 0, -1)
	return dst
}

var pow10i = [7]int64{1, 10, 100, 1e3, 1e4, 1e5, 1e6}

// decimal finds the smallest k with v == m/10^k exactly, or k = -1.
func decimal(v float64) (m int64, k int) {
	if math.Abs(v) < maxMantissa/1e6 {
		// A value that is m/10^k is also (m*10^(6-k))/10^6, the same real
		// number and so the same double: one test at k = 6 settles it,
		// then trailing decimal zeros give the smallest k.
		m6, ok := decimalOf(v, 6)
		if !ok {
			return 0, -1
		}
		k = 6
		for k > 0 && m6%10 == 0 {
			m6 /= 10
			k--
		}
		return m6, k
	}
	if m, ok := decimalOf(v, 0); ok {
		return m, 0
	}
	return 0, -1
}

// decimalAt returns m with v == m/10^k exactly, if there is one.
func decimalAt(v float64, k int) (int64, bool) {
	m, kv := decimal(v)
	return scaleDecimal(m, kv, k)
}

func scaleDecimal(m int64, kv, k int) (int64, bool) {
	if kv < 0 || kv > k {
		return 0, false
	}
	return m * pow10i[k-kv], true
}

// appendFloatDec encodes v, relative to the reference value whose decimal
// form is (mr, kr) when that is shorter (kr < 0: none). It returns v's
// decimal form, the next value's reference.
func appendFloatDec(dst []byte, v float64, mr int64, kr int) ([]byte, int64, int) {
	m, k := decimal(v)
	if k < 0 {
		dst = append(dst, 7)
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(v)), m, k
	}
	u := zigzag(m)<<4 | uint64(k)
	if mr, ok := scaleDecimal(mr, kr, k); ok {
		if d := zigzag(m-mr)<<4 | 8 | uint64(k); d < u {
			u = d
		}
	}
	return binary.AppendUvarint(dst, u), m, k
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, a ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("features: decode: %s: %w", fmt.Sprintf(format, a...), ErrCorrupt)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	u, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad or truncated varint")
		return 0
	}
	d.b = d.b[n:]
	return u
}

func (d *decoder) varint() int64 { return unzigzag(d.uvarint()) }

// small reads a uvarint that must be <= limit.
func (d *decoder) small(limit uint64, what string) int64 {
	u := d.uvarint()
	if u > limit {
		d.fail("%s %d exceeds %d", what, u, limit)
		return 0
	}
	return int64(u)
}

func (d *decoder) float() float64 { return d.floatRef(math.NaN()) }

// floatAny reads a derived quantity (a sum, a moment): those may overflow
// to ±Inf or NaN with extreme inputs, and must round-trip too.
func (d *decoder) floatAny() float64 {
	if len(d.b) >= 9 && d.b[0] == 7 && d.err == nil {
		v := math.Float64frombits(binary.LittleEndian.Uint64(d.b[1:]))
		d.b = d.b[9:]
		return v
	}
	return d.float()
}

func (d *decoder) floatRef(ref float64) float64 {
	v, _ := d.floatRefDec(ref)
	return v
}

// floatRefDec is floatRef that also returns the decimal the value was
// written as: v is float64(dec.m)/10^dec.k exactly, dec.k = -1 for the 8
// IEEE bytes.
func (d *decoder) floatRefDec(ref float64) (float64, decimalForm) {
	none := decimalForm{k: -1}
	u := d.uvarint()
	if d.err != nil {
		return 0, none
	}
	tag := u & 15
	k := int(tag & 7)
	if k == 7 {
		if u != 7 {
			d.fail("bad float tag")
			return 0, none
		}
		if len(d.b) < 8 {
			d.fail("truncated float")
			return 0, none
		}
		v := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
		d.b = d.b[8:]
		if math.IsNaN(v) || math.IsInf(v, 0) {
			d.fail("non-finite float")
			return 0, none
		}
		return v, none
	}
	m := unzigzag(u >> 4)
	if tag&8 != 0 {
		mr, ok := decimalAt(ref, k)
		if math.IsNaN(ref) || !ok {
			d.fail("float delta without a decimal reference")
			return 0, none
		}
		m += mr
	}
	if m > maxMantissa || m < -maxMantissa {
		d.fail("decimal mantissa out of range")
		return 0, none
	}
	return float64(m) / pow10[k], decimalForm{m: m, k: k}
}

// decimalForm is a value as m/10^k (k = -1: none).
type decimalForm struct {
	m int64
	k int
}

// AppendBinary appends the encoded state to dst.
func (s *Series) AppendBinary(dst []byte) []byte {
	dst = append(dst, encodingVersion, byte(s.fp), byte(s.fp>>8))
	if !s.has {
		return append(dst, 0)
	}
	dst = append(dst, 1)
	dst = binary.AppendVarint(dst, s.newest)
	dst = appendFloat(dst, s.lastV)
	for _, e := range s.ewmas {
		dst = appendFloat(dst, e.mean)
		dst = appendFloat(dst, e.m2)
		dst = appendFloat(dst, e.w)
	}
	dst = binary.AppendUvarint(dst, uint64(s.raw.live()))
	prevTs, prevDelta := s.newest, int64(0)
	prevM, prevK := int64(0), -1
	var chunk [64]sample
	for p := s.raw.head; p < s.raw.n; p += len(chunk) {
		for i, r := range s.raw.load(chunk[:0], p, min(p+len(chunk), s.raw.n)) {
			if p+i == s.raw.head {
				dst = binary.AppendUvarint(dst, uint64(s.newest-r.ts))
			} else {
				delta := r.ts - prevTs
				dst = binary.AppendVarint(dst, delta-prevDelta)
				prevDelta = delta
			}
			prevTs = r.ts
			dst, prevM, prevK = appendFloatDec(dst, r.v, prevM, prevK)
		}
	}
	h := s.horizon(s.newest)
	for i := range s.levels {
		lv := &s.levels[i]
		dst = binary.AppendUvarint(dst, uint64(lv.aggs))
		if lv.aggs == 0 {
			continue
		}
		prev := lv.lo
		for j := lv.lo; j < lv.hi; j++ {
			a := lv.slot(j).agg
			if a == nil {
				continue
			}
			dst = binary.AppendUvarint(dst, uint64(j-prev))
			prev = j + 1
			dst = s.appendAgg(dst, a, j*lv.width)
			if i == 0 && j >= h {
				dst = appendTimes(dst, a.times)
			}
		}
	}
	return dst
}

// Forms of an encoded time set.
const (
	timesNone = iota
	timesList
	timesBitmap
)

func appendTimes(dst []byte, t *timeSet) []byte {
	switch {
	case t == nil:
		return append(dst, timesNone)
	case t.bitmap:
		return append(append(dst, timesBitmap), t.b...)
	}
	// The first time is the aggregate's firstTs.
	_, n := binary.Uvarint(t.b)
	return append(append(dst, timesList), t.b[n:]...)
}

const (
	minIsFirst = 1 << iota
	minIsLast
	maxIsFirst
	maxIsLast
)

func sameFloat(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }

func (s *Series) appendAgg(dst []byte, a *agg, start int64) []byte {
	dst = binary.AppendUvarint(dst, uint64(a.n))
	dst = binary.AppendUvarint(dst, uint64(a.firstTs-start))
	dst = binary.AppendUvarint(dst, uint64(a.lastTs-a.firstTs))
	dst, fm, fk := appendFloatDec(dst, a.first, 0, -1)
	dst, _, _ = appendFloatDec(dst, a.last, fm, fk)
	var flags byte
	switch {
	case sameFloat(a.min, a.first):
		flags |= minIsFirst
	case sameFloat(a.min, a.last):
		flags |= minIsLast
	}
	switch {
	case sameFloat(a.max, a.first):
		flags |= maxIsFirst
	case sameFloat(a.max, a.last):
		flags |= maxIsLast
	}
	dst = append(dst, flags)
	if flags&(minIsFirst|minIsLast) == 0 {
		dst, _, _ = appendFloatDec(dst, a.min, fm, fk)
	}
	if flags&(maxIsFirst|maxIsLast) == 0 {
		dst, _, _ = appendFloatDec(dst, a.max, fm, fk)
	}
	dst = appendFloat(dst, a.sum)
	dst = appendFloat(dst, a.m2)
	dst = appendFloat(dst, a.st)
	dst = appendFloat(dst, a.stt)
	dst = appendFloat(dst, a.ctv)
	if s.cfg.Counter {
		dst = appendFloat(dst, a.inc)
	}
	dst = binary.AppendUvarint(dst, uint64(len(a.bins)))
	prev := int32(0)
	for i, b := range a.bins {
		var u uint64
		if i == 0 {
			u = zigzag(int64(b.key))
		} else {
			u = uint64(b.key - prev - 1)
		}
		prev = b.key
		u <<= 1
		if b.n > 1 {
			u |= 1
		}
		dst = binary.AppendUvarint(dst, u)
		if b.n > 1 {
			dst = binary.AppendUvarint(dst, b.n-2)
		}
	}
	return dst
}

// DecodeSeries decodes one series encoded by AppendBinary under cfg and
// returns the bytes after it. Corrupt or truncated input gives an error
// wrapping ErrCorrupt (never a panic); every length read is checked against
// the layout's bounds and the remaining input before anything is allocated.
func DecodeSeries(cfg Config, b []byte) (*Series, []byte, error) {
	if err := cfg.Validate(); err != nil {
		return nil, b, err
	}
	s := NewSeries(cfg)
	d := &decoder{b: b}
	version := d.byte()
	if d.err == nil && version != 1 && version != encodingVersion {
		d.fail("unknown version %d", version)
	}
	fp := uint16(d.byte()) | uint16(d.byte())<<8
	flags := d.byte()
	if d.err != nil {
		return nil, b, d.err
	}
	if fp != s.fp {
		return nil, b, fmt.Errorf("features: decode: fingerprint %#04x, config has %#04x: %w", fp, s.fp, ErrConfigMismatch)
	}
	switch flags {
	case 0:
		return s, d.b, nil
	case 1:
	default:
		d.fail("bad flags %#x", flags)
		return nil, b, d.err
	}
	s.has = true
	s.newest = d.varint()
	if s.newest > maxAbsTs || s.newest < -maxAbsTs {
		d.fail("newest ts %d out of range", s.newest)
	}
	s.lastV = d.float()
	for i := range s.ewmas {
		e := &s.ewmas[i]
		e.mean = d.floatAny()
		e.m2 = d.floatAny()
		e.w = d.floatAny()
		if e.w < 0 {
			d.fail("negative ewma weight")
		}
	}
	if d.err != nil {
		return nil, b, d.err
	}
	var lo, hi [maxWindows]int64
	s.ranges(s.newest, &lo, &hi)
	s.timesLo = s.horizon(s.newest)
	totalSlots := 0
	for i := range s.levels {
		s.levels[i].lo, s.levels[i].hi = lo[i], hi[i]
		totalSlots += int(s.levels[i].nslots)
	}
	last := &s.levels[len(s.levels)-1]
	oldest := last.lo * last.width

	// Each raw sample takes at least 2 bytes, and no bucket holds more
	// than rawPerBucket: both bound the allocation.
	nraw := d.small(uint64(min(len(d.b)/2, totalSlots*rawPerBucket)), "raw sample count")
	if d.err != nil {
		return nil, b, d.err
	}
	raw := make([]sample, 0, nraw)
	decs := make([]decimalForm, 0, nraw)
	prevTs, prevDelta, prevV := s.newest, int64(0), math.NaN()
	for i := int64(0); i < nraw && d.err == nil; i++ {
		var ts int64
		if i == 0 {
			back := d.uvarint()
			if back > uint64(s.newest-oldest) {
				d.fail("raw sample older than the state")
			}
			ts = s.newest - int64(back)
		} else {
			dd := d.varint()
			if dd > maxAbsTs || dd < -maxAbsTs {
				d.fail("raw ts delta out of range")
				break
			}
			delta := prevDelta + dd
			if delta < 0 || delta > s.newest-prevTs {
				d.fail("raw samples out of order or newer than newest")
				break
			}
			ts = prevTs + delta
			prevDelta = delta
		}
		prevTs = ts
		v, dec := d.floatRefDec(prevV)
		prevV = v
		raw = append(raw, sample{ts, v})
		decs = append(decs, dec)
	}
	for i := range s.levels {
		lv := &s.levels[i]
		n := d.small(uint64(lv.nslots), "aggregate count")
		j := lv.lo
		for k := int64(0); k < n && d.err == nil; k++ {
			j += d.small(uint64(lv.hi-lv.lo), "bucket gap")
			if j >= lv.hi {
				d.fail("bucket index out of level")
				break
			}
			a := s.decodeAgg(d, j*lv.width, lv.width)
			if i == 0 && j >= s.timesLo && version >= 2 {
				if a.times = decodeTimes(d, a, j*lv.width, lv.width); a.times != nil {
					s.times++
				}
			}
			lv.setAgg(j, a)
			lv.aggs++
			j++
		}
	}
	if d.err != nil {
		return nil, b, d.err
	}
	if err := s.attachRaw(raw, decs); err != nil {
		return nil, b, err
	}
	return s, d.b, nil
}

func (s *Series) decodeAgg(d *decoder, start, width int64) *agg {
	a := &agg{}
	a.n = d.small(math.MaxInt64, "count")
	if a.n <= rawPerBucket {
		d.fail("aggregate of %d samples", a.n)
	}
	a.firstTs = start + d.small(uint64(width-1), "first offset")
	a.lastTs = a.firstTs + d.small(uint64(start+width-1-a.firstTs), "last offset")
	if a.lastTs > s.newest {
		d.fail("aggregate newer than newest")
	}
	a.first = d.float()
	a.last = d.floatRef(a.first)
	flags := d.byte()
	if flags&^(minIsFirst|minIsLast|maxIsFirst|maxIsLast) != 0 ||
		flags&(minIsFirst|minIsLast) == minIsFirst|minIsLast || flags&(maxIsFirst|maxIsLast) == maxIsFirst|maxIsLast {
		d.fail("bad min/max flags")
	}
	switch {
	case flags&minIsFirst != 0:
		a.min = a.first
	case flags&minIsLast != 0:
		a.min = a.last
	default:
		a.min = d.floatRef(a.first)
	}
	switch {
	case flags&maxIsFirst != 0:
		a.max = a.first
	case flags&maxIsLast != 0:
		a.max = a.last
	default:
		a.max = d.floatRef(a.first)
	}
	if !(a.min <= a.first && a.min <= a.last && a.max >= a.first && a.max >= a.last) {
		d.fail("min/max inconsistent with first/last")
	}
	a.sum = d.floatAny()
	a.m2 = d.floatAny()
	a.st = d.floatAny()
	a.stt = d.floatAny()
	a.ctv = d.floatAny()
	if s.cfg.Counter {
		a.inc = d.floatAny()
	}
	nb := d.small(sketchMaxBins, "sketch bins")
	if d.err != nil {
		return a
	}
	a.bins = make([]bin, 0, nb)
	var total uint64
	prev := int32(0)
	for i := int64(0); i < nb && d.err == nil; i++ {
		u := d.uvarint()
		var key int64
		if i == 0 {
			key = unzigzag(u >> 1)
		} else {
			key = int64(prev) + 1 + int64(u>>1)
		}
		if key > 2*keyOffset || key < -2*keyOffset || (i > 0 && u>>1 > 4*keyOffset) {
			d.fail("sketch key out of range")
			break
		}
		cnt := uint64(1)
		if u&1 != 0 {
			cnt = d.uvarint() + 2
			if cnt < 2 {
				d.fail("sketch count overflow")
			}
		}
		if total+cnt < total {
			d.fail("sketch total overflow")
		}
		total += cnt
		prev = int32(key)
		a.bins = append(a.bins, bin{key: prev, n: cnt})
	}
	if d.err == nil && total != uint64(a.n) {
		d.fail("sketch holds %d samples, aggregate %d", total, a.n)
	}
	return a
}

// decodeTimes reads the time set of aggregate a (see appendTimes) and
// checks that it holds exactly a's n times, from firstTs to lastTs. It is
// rebuilt by adding the times in order, so that its form is the one the
// set implies.
func decodeTimes(d *decoder, a *agg, start, width int64) *timeSet {
	form := d.byte()
	if d.err != nil || form == timesNone {
		return nil
	}
	first, last := a.firstTs-start, a.lastTs-start
	if a.n > width {
		d.fail("%d distinct times in a bucket of %d ms", a.n, width)
		return nil
	}
	// About a byte a time while a list; a bitmap is built after its list.
	t := &timeSet{last: -1, b: make([]byte, 0, min(a.n+2, 2*int64(bitmapBytes(width))))}
	switch form {
	case timesList:
		if a.n-1 > int64(len(d.b)) {
			d.fail("truncated time list")
			return nil
		}
		o := first
		t.add(o, width)
		for k := int64(1); k < a.n && d.err == nil; k++ {
			o += d.small(uint64(width), "time gap") + 1
			if o > last {
				d.fail("time after the aggregate's last")
				return nil
			}
			t.add(o, width)
		}
		if d.err == nil && o != last {
			d.fail("time list ends before the aggregate's last")
		}
	case timesBitmap:
		nb := bitmapBytes(width)
		if len(d.b) < nb {
			d.fail("truncated time bitmap")
			return nil
		}
		bm := d.b[:nb]
		d.b = d.b[nb:]
		n, lo, hi := int64(0), int64(-1), int64(-1)
		for o := int64(0); o < int64(nb)*8; o++ {
			if bm[o>>3]&(1<<(o&7)) == 0 {
				continue
			}
			if lo < 0 {
				lo = o
			}
			hi = o
			n++
		}
		if n != a.n || lo != first || hi != last {
			d.fail("time bitmap of %d times in [%d, %d], aggregate of %d in [%d, %d]", n, lo, hi, a.n, first, last)
			return nil
		}
		for o := first; o <= last; o++ {
			if bm[o>>3]&(1<<(o&7)) != 0 {
				t.add(o, width)
			}
		}
	default:
		d.fail("bad time set form %d", form)
		return nil
	}
	return t
}

// attachRaw places each raw sample (decs: the decimals its values were
// written as) in its bucket, checking the invariants
// the encoder relies on: no raw sample in an aggregated bucket, at most
// rawPerBucket per bucket, and the newest sample present with lastV.
func (s *Series) attachRaw(raw []sample, decs []decimalForm) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("features: decode: %s: %w", fmt.Sprintf(format, a...), ErrCorrupt)
	}
	// Samples are sorted, so a bucket's are consecutive.
	prevLevel, prevBucket, n := -1, int64(0), 0
	for _, r := range raw {
		placed := false
		for i := range s.levels {
			lv := &s.levels[i]
			if r.ts < lv.lo*lv.width {
				continue
			}
			j := floorDiv(r.ts, lv.width)
			if lv.slot(j).agg != nil {
				return bad("raw sample at %d inside an aggregated bucket", r.ts)
			}
			if i != prevLevel || j != prevBucket {
				prevLevel, prevBucket, n = i, j, 0
			}
			if n++; n > rawPerBucket {
				return bad("bucket at %d holds more than %d raw samples", r.ts, rawPerBucket)
			}
			lv.raw++
			placed = true
			break
		}
		if !placed {
			return bad("raw sample at %d older than the state", r.ts)
		}
	}
	s.raw.build(raw, decs)
	if n := len(raw); n > 0 && raw[n-1].ts == s.newest {
		if !sameFloat(raw[n-1].v, s.lastV) {
			return bad("newest raw sample differs from the last value")
		}
		return nil
	}
	lv := &s.levels[0]
	a := lv.slot(floorDiv(s.newest, lv.width)).agg
	if a == nil || a.lastTs != s.newest || !sameFloat(a.last, s.lastV) {
		return bad("no sample at the newest time")
	}
	return nil
}
