package processors

import (
	"testing"
)

func TestAcksReleaseInOffsetOrder(t *testing.T) {
	a := NewAcks()
	var released []int64
	add := func(off int64, key string) {
		a.Add(off, key, func(err error) {
			if err != nil {
				t.Errorf("ack %d with %v", off, err)
			}
			released = append(released, off)
		})
	}
	add(10, "a")
	add(11, "b")
	add(12, "a")
	add(13, "")
	a.Done(13) // done, but 10..12 are not: nothing may be released
	if len(released) != 0 {
		t.Fatalf("released %v before earlier offsets", released)
	}
	a.Durable("a", 10) // covers 10, not 12
	if len(released) != 1 || released[0] != 10 {
		t.Fatalf("released %v", released)
	}
	a.Durable("b", 11)
	if len(released) != 2 {
		t.Fatalf("released %v", released)
	}
	a.Durable("a", 12) // releases 12 and the done 13
	want := []int64{10, 11, 12, 13}
	if len(released) != len(want) {
		t.Fatalf("released %v, want %v", released, want)
	}
	for i := range want {
		if released[i] != want[i] {
			t.Fatalf("released %v, want %v", released, want)
		}
	}
	if a.Pending() != 0 || a.Released() != 4 {
		t.Fatalf("pending %d released %d", a.Pending(), a.Released())
	}
	// A durable mark given before the record arrives covers it.
	a.Durable("c", 20)
	add(19, "c")
	a.Done(-1) // triggers a release pass
	if released[len(released)-1] != 19 {
		t.Fatalf("released %v", released)
	}
}
