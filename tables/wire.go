package tables

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
)

// ErrCorrupt is wrapped by every decoder error of an internal value.
var ErrCorrupt = errors.New("corrupt value")

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendFloat(b []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
}

// reader decodes internal values; the first error sticks and every later read
// returns zero values, so decoders check err once at the end.
type reader struct {
	b      []byte
	err    error
	intern *Interner
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: truncated or invalid %s", ErrCorrupt, what)
	}
}

func (r *reader) byte(what string) byte {
	if r.err != nil || len(r.b) < 1 {
		r.fail(what)
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint(what string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) float(what string) float64 {
	if r.err != nil || len(r.b) < 8 {
		r.fail(what)
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

func (r *reader) bytes(what string) []byte {
	n := r.uvarint(what)
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail(what)
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) string(what string) string {
	if r.intern != nil {
		return r.intern.String(r.bytes(what))
	}
	return string(r.bytes(what))
}

// Interner shares the strings decoders make (tenants, hosts, metric names,
// units, tags) so that decoding a signal does not allocate them again and
// again. It keeps at most max bytes of strings: once they are taken, it
// forgets them all and starts again, so that strings of sources long gone
// (or a flood of new names) do not stay forever, and the ones in use come
// back at once. It is safe for concurrent use.
type Interner struct {
	mu    sync.Mutex
	m     map[string]string
	bytes int
	max   int
}

// internOverhead approximates a map entry's own bytes beside the string's.
const internOverhead = 48

// NewInterner returns an interner of at most max bytes.
func NewInterner(max int) *Interner { return &Interner{m: map[string]string{}, max: max} }

// String returns a string equal to b.
func (in *Interner) String(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if s, ok := in.m[string(b)]; ok {
		return s
	}
	s := string(b)
	size := len(s) + internOverhead
	if size > in.max {
		return s
	}
	if in.bytes+size > in.max {
		clear(in.m)
		in.bytes = 0
	}
	in.m[s] = s
	in.bytes += size
	return s
}

// Size returns the bytes the interner holds.
func (in *Interner) Size() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.bytes
}

// count reads a collection length and bounds it by the bytes left, assuming
// each element takes at least min bytes, so a corrupt length cannot make the
// decoder allocate more than the input could hold.
func (r *reader) count(what string, min int) int {
	n := r.uvarint(what)
	if r.err != nil {
		return 0
	}
	if min < 1 {
		min = 1
	}
	if n > uint64(len(r.b)/min) {
		r.fail(what)
		return 0
	}
	return int(n)
}

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func appendVarint(b []byte, v int64) []byte { return binary.AppendVarint(b, v) }
