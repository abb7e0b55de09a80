package rules

import (
	"errors"
	"math"
	"testing"
)

func sampleStates() []States {
	var pending, firing, both States
	pending.Set(7, State{Phase: Pending, ActiveSince: 1_761_040_800_000, Value: 95, Episode: 0xdeadbeef})
	firing.Set(9, State{Phase: Firing, ActiveSince: 1_761_040_800_000, FiringSince: 1_761_041_100_000,
		Clearing: true, ClearSince: 1_761_041_200_000, LastSent: 1_761_041_100_000, Value: math.NaN(), Episode: 1})
	both = append(both, pending...)
	both.Set(9, firing.Get(9))
	both.Set(3, State{Phase: Firing, ActiveSince: -5, Value: math.Copysign(0, -1)})
	return []States{nil, pending, firing, both}
}

func TestStatesRoundTrip(t *testing.T) {
	for i, s := range sampleStates() {
		b, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got States
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if !statesEqual(got, s) {
			t.Errorf("case %d: got %+v want %+v", i, got, s)
		}
	}
}

// TestStatesSize pins the encoded size: the changelog budget is per event.
func TestStatesSize(t *testing.T) {
	var s States
	b, _ := s.MarshalBinary()
	if len(b) != 2 {
		t.Errorf("empty: %d bytes", len(b))
	}
	s.Set(9, State{Phase: Firing, ActiveSince: 1_761_040_800_000, FiringSince: 1_761_041_100_000,
		LastSent: 1_761_041_100_000, Value: 95.5, Episode: 0x1234567890abcdef})
	b, _ = s.MarshalBinary()
	if len(b) > 40 {
		t.Errorf("one firing alert: %d bytes, want <= 40", len(b))
	}
	t.Logf("one firing alert: %d bytes", len(b))
}

func TestStatesSetGet(t *testing.T) {
	var s States
	for _, id := range []RuleID{5, 1, 9, 3} {
		s.Set(id, State{Phase: Pending, ActiveSince: int64(id)})
	}
	for i := 1; i < len(s); i++ {
		if s[i-1].Rule >= s[i].Rule {
			t.Fatalf("not sorted: %+v", s)
		}
	}
	s.Set(9, State{})
	if len(s) != 3 || s.Get(9).Phase != Inactive || s.Get(3).ActiveSince != 3 {
		t.Fatalf("after delete: %+v", s)
	}
	s.Retain(func(id RuleID) bool { return id != 1 })
	if len(s) != 2 || s.Get(1).Phase != Inactive {
		t.Fatalf("after retain: %+v", s)
	}
}

func TestDecodeStatesRejects(t *testing.T) {
	var s States
	s.Set(2, State{Phase: Pending, ActiveSince: 10, Value: 1})
	s.Set(4, State{Phase: Firing, ActiveSince: 10, FiringSince: 20})
	good, _ := s.MarshalBinary()
	corrupt := func(f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), good...))
	}
	cases := map[string][]byte{
		"version":       corrupt(func(b []byte) []byte { b[0] = 2; return b }),
		"truncated":     good[:len(good)-1],
		"trailing":      append(append([]byte(nil), good...), 0),
		"huge count":    {1, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad phase":     corrupt(func(b []byte) []byte { b[2+8] &^= flagPhase; return b }),
		"unsorted":      corrupt(func(b []byte) []byte { b[2+7] = 9; return b }),
		"only version":  {1},
		"bad varint":    {1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01},
		"zero flagged":  {1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1 | flagFiringSince, 2, 1},
		"count too big": {1, 2, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2},
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeStates(b); !errors.Is(err, ErrCorruptStates) {
				t.Errorf("err = %v", err)
			}
		})
	}
}
