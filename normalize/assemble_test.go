package normalize

import (
	"testing"
	"time"
)

func TestAssemble(t *testing.T) {
	t0 := time.Unix(1000, 0)
	piece := func(p int32, off int64, dt time.Duration, v string) Piece {
		return Piece{Partition: p, Offset: off, Time: t0.Add(dt), Value: []byte(v)}
	}
	f := func(name string, pool []Piece, want string, wantSeq ...int) {
		t.Helper()
		rec, seq := Assemble(pool, time.Second)
		if string(rec) != want {
			t.Errorf("%s: got %q, want %q", name, rec, want)
			return
		}
		if len(seq) != len(wantSeq) {
			t.Errorf("%s: pieces %v, want %v", name, seq, wantSeq)
			return
		}
		for i := range seq {
			if seq[i] != wantSeq[i] {
				t.Errorf("%s: pieces %v, want %v", name, seq, wantSeq)
			}
		}
	}
	// The quick start's heredoc: two lines, on two partitions, the second
	// read first.
	f("two partitions, continuation first", []Piece{
		piece(3, 0, 0, ` "ts_event":"2025-10-21T10:00:00Z","unit":"percent","tags":{"env":"prod"}}`),
		piece(1, 0, 0, `{"tenant_id":"acme","host":"host-a","metric":"cpu_load","value":92,`),
	}, "{\"tenant_id\":\"acme\",\"host\":\"host-a\",\"metric\":\"cpu_load\",\"value\":92,\n \"ts_event\":\"2025-10-21T10:00:00Z\",\"unit\":\"percent\",\"tags\":{\"env\":\"prod\"}}", 1, 0)
	f("three pieces on one partition keep their order", []Piece{
		piece(0, 5, 0, `{"a":1,`), piece(0, 6, 0, `"b":`), piece(0, 7, 0, `2}`),
	}, "{\"a\":1,\n\"b\":\n2}", 0, 1, 2)
	f("pieces too far apart in time are not joined", []Piece{
		piece(0, 5, 0, `{"a":1,`), piece(1, 0, 3*time.Second, `"b":2}`),
	}, "")
	f("garbage joins nothing", []Piece{piece(0, 1, 0, `not json`), piece(1, 1, 0, `{"a":`)}, "")
	f("an order that only works out of offset order is refused", []Piece{
		piece(0, 1, 0, `"b":2}`), piece(0, 2, 0, `{"a":1,`),
	}, "")
}
