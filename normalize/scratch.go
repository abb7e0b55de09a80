package normalize

// The buffers of a Parse call live inside its parser, on Parse's stack. They
// are arrays, not slices that grow: the compiler moves to the heap whatever a
// slice field written through a pointer points to. Only a record that
// outgrows them gets buffers on the heap.

// byteBuf holds the decoded strings of the event being read.
type byteBuf struct {
	n     int
	small [1024]byte
	big   []byte // in use once small is outgrown
}

func (b *byteBuf) len() int {
	if b.big != nil {
		return len(b.big)
	}
	return b.n
}

// truncate drops what was written after the first n bytes.
func (b *byteBuf) truncate(n int) {
	if b.big != nil {
		b.big = b.big[:n]
		return
	}
	b.n = n
}

// room returns an empty slice with room for n more bytes at the end of the
// buffer: write into it, then commit what was written.
func (b *byteBuf) room(n int) []byte {
	if b.big == nil {
		if b.n+n <= len(b.small) {
			return b.small[b.n:b.n:len(b.small)]
		}
		b.big = make([]byte, b.n, 2*(b.n+n))
		copy(b.big, b.small[:b.n])
	}
	if cap(b.big)-len(b.big) < n {
		big := make([]byte, len(b.big), 2*(len(b.big)+n))
		copy(big, b.big)
		b.big = big
	}
	return b.big[len(b.big):len(b.big)]
}

func (b *byteBuf) commit(n int) {
	if b.big != nil {
		b.big = b.big[:len(b.big)+n]
		return
	}
	b.n += n
}

func (b *byteBuf) append(p []byte) {
	copy(b.room(len(p))[:len(p)], p)
	b.commit(len(p))
}

// bytes returns what lies at sp, to be read before the next write.
func (b *byteBuf) bytes(sp span) []byte {
	if b.big != nil {
		return b.big[sp.off:sp.end]
	}
	return b.small[sp.off:sp.end]
}

// list is a list of a Parse call: the tags of an event, the events of a
// record.
type list[T any] struct {
	n     int
	small [16]T
	big   []T // in use once small is outgrown
}

func (l *list[T]) reset() {
	l.n = 0
	if l.big != nil {
		l.big = l.big[:0]
	}
}

func (l *list[T]) add(v T) {
	if l.big == nil {
		if l.n < len(l.small) {
			l.small[l.n] = v
			l.n++
			return
		}
		l.big = append(make([]T, 0, 4*len(l.small)), l.small[:]...)
	}
	l.big = append(l.big, v)
}

// all returns the list, to be used before the next add.
func (l *list[T]) all() []T {
	if l.big != nil {
		return l.big
	}
	return l.small[:l.n]
}
