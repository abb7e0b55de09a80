package features

import (
	"encoding/binary"
	"math/bits"
)

// timeSet is the exact set of event times applied to an aggregated bucket
// of the finest level, kept while the bucket can still take samples (it
// reaches into the lateness horizon), so that a resent sample is
// recognised. Raw buckets need none: their samples are in Series.raw.
//
// Times are offsets o from the bucket start, 0 <= o < width. Two forms, the
// smaller for the set (so the form is a function of the set, whatever the
// order of arrival):
//
//   - list: uvarint(first offset), then uvarint(gap - 1) for each next
//     offset in increasing order; about one byte a sample for anything
//     sparser than one sample per 128 ms;
//   - bitmap: bit o of byte o/8 set for each offset, ceil(width/8) bytes.
//
// A set is a list until its list would take more than the bitmap's bytes:
// a list only grows when an offset is added (a gap split in two never takes
// fewer bytes than it did), so it never needs to go back. A set therefore
// costs at most ceil(width/8) bytes: 250 with the default 2 s buckets.
type timeSet struct {
	b      []byte
	bitmap bool
	last   int64 // the largest offset of a list, -1 when empty
}

// bitmapBytes is the size of a bitmap of offsets below width.
func bitmapBytes(width int64) int { return int((width + 7) / 8) }

func (t *timeSet) reset() {
	t.b, t.bitmap, t.last = t.b[:0], false, -1
}

// has reports whether offset o is in the set.
func (t *timeSet) has(o int64) bool {
	if t.bitmap {
		return t.b[o>>3]&(1<<(o&7)) != 0
	}
	if o > t.last {
		return false
	}
	cur := int64(-1)
	for p := 0; p < len(t.b); {
		g, n := gapAt(t.b, p)
		p += n
		cur += g + 1
		if cur >= o {
			return cur == o
		}
	}
	return false
}

// gapAt reads the uvarint at b[p:] and its length; most take one byte.
func gapAt(b []byte, p int) (int64, int) {
	if c := b[p]; c < 0x80 {
		return int64(c), 1
	}
	u, n := binary.Uvarint(b[p:])
	return int64(u), n
}

// add inserts offset o, which is not in the set, of a bucket width wide.
func (t *timeSet) add(o, width int64) {
	switch {
	case t.bitmap:
		t.b[o>>3] |= 1 << (o & 7)
		return
	case o > t.last:
		t.b = binary.AppendUvarint(t.b, uint64(o-t.last-1))
		t.last = o
	default:
		t.insert(o)
	}
	if len(t.b) > bitmapBytes(width) {
		t.toBitmap(width)
	}
}

// insert puts o before the first offset larger than it: that offset's
// entry (its gap from the previous one, or itself when first) becomes two.
func (t *timeSet) insert(o int64) {
	prev, p := int64(-1), 0
	for {
		g, n := gapAt(t.b, p)
		next := prev + g + 1
		if next > o {
			var buf [2 * binary.MaxVarintLen64]byte
			e := binary.AppendUvarint(buf[:0], uint64(o-prev-1))
			e = binary.AppendUvarint(e, uint64(next-o-1))
			grow := len(e) - n
			t.b = append(t.b, e[:grow]...)
			copy(t.b[p+len(e):], t.b[p+n:len(t.b)-grow])
			copy(t.b[p:], e)
			return
		}
		prev, p = next, p+n
	}
}

// toBitmap turns a list into a bitmap, building it after the list in the
// same buffer and moving it down, so that a recycled set allocates nothing.
func (t *timeSet) toBitmap(width int64) {
	n := len(t.b)
	t.b = append(t.b, make([]byte, bitmapBytes(width))...)
	bm := t.b[n:]
	cur := int64(-1)
	for p := 0; p < n; {
		g, k := gapAt(t.b, p)
		p += k
		cur += g + 1
		bm[cur>>3] |= 1 << (cur & 7)
	}
	t.b = t.b[:copy(t.b, bm)]
	t.bitmap = true
}

// count is the number of offsets in the set.
func (t *timeSet) count() int64 {
	if t.bitmap {
		n := 0
		for _, c := range t.b {
			n += bits.OnesCount8(c)
		}
		return int64(n)
	}
	n := int64(0)
	for _, c := range t.b {
		if c < 0x80 {
			n++
		}
	}
	return n
}
