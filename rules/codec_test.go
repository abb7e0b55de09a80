package rules

import (
	"encoding/hex"
	"errors"
	"math"
	"slices"
	"testing"
)

var highCPU = &Identity{Group: "host", Name: "HighCPU", Labels: []Label{{"severity", "critical"}, {"team", ""}}}

// sampleStates are the states version1States was encoded from.
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

// version1States are sampleStates in the version 1 encoding, as the code
// before evaluation times and identities wrote them.
var version1States = []string{
	"0100",
	"01010000000000000007c180e4b0e3c0664057c0000000000000000000deadbeef",
	"01010000000000000009fe80e4b0e3c066c0cf2480ea30c0cf247ff80000000000010000000000000001",
	"01030000000000000003420980000000000000000000000000000007c180e4b0e3c0664057c0000000000000000000deadbeef0000000000000009fe80e4b0e3c066c0cf2480ea30c0cf247ff80000000000010000000000000001",
}

// sampleLifecycles are the sample states with and without an evaluation
// time and identities.
func sampleLifecycles() []Lifecycle {
	var out []Lifecycle
	for _, s := range sampleStates() {
		out = append(out, Lifecycle{Alerts: s})
		withIdentity := slices.Clone(s)
		for i := range withIdentity {
			withIdentity[i].Identity = highCPU
		}
		out = append(out, Lifecycle{Alerts: withIdentity, at: 1_761_041_300_000, evaluated: true})
	}
	return out
}

func TestLifecycleRoundTrip(t *testing.T) {
	for i, lc := range sampleLifecycles() {
		b, err := lc.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeLifecycle(b)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if !lifecyclesEqual(got, lc) {
			t.Errorf("case %d: got %+v want %+v", i, got, lc)
		}
	}
}

// TestDecodeVersion1: states written before evaluation times and
// identities decode, with the evaluation time not known.
func TestDecodeVersion1(t *testing.T) {
	for i, s := range sampleStates() {
		b, _ := hex.DecodeString(version1States[i])
		got, err := DecodeLifecycle(b)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if _, ok := got.Evaluated(); ok || !statesEqual(got.Alerts, s) {
			t.Errorf("case %d: got %+v want %+v", i, got, s)
		}
	}
}

// TestStatesSize pins the encoded size: the changelog budget is per event.
func TestStatesSize(t *testing.T) {
	lc := Lifecycle{at: 1_761_041_160_000, evaluated: true}
	b, _ := lc.AppendBinary(nil)
	if len(b) != 9 {
		t.Errorf("no alert: %d bytes", len(b))
	}
	lc.Alerts.Set(9, State{Phase: Firing, ActiveSince: 1_761_040_800_000, FiringSince: 1_761_041_100_000,
		LastSent: 1_761_041_100_000, Value: 95.5, Episode: 0x1234567890abcdef,
		Identity: &Identity{Group: "host", Name: "HighCPU", Labels: []Label{{"severity", "critical"}}}})
	b, _ = lc.AppendBinary(nil)
	if len(b) > 80 {
		t.Errorf("one firing alert: %d bytes, want <= 80", len(b))
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
}

func TestDecodeLifecycleRejects(t *testing.T) {
	var s States
	s.Set(2, State{Phase: Pending, ActiveSince: 10, Value: 1})
	s.Set(4, State{Phase: Firing, ActiveSince: 10, FiringSince: 20, Identity: &Identity{Group: "g", Name: "A", Labels: []Label{{"a", "1"}, {"b", "2"}}}})
	lc := Lifecycle{Alerts: s}
	good, _ := lc.AppendBinary(nil)
	// good: version, flags, count, then the pending state at 3 (rule ID,
	// flags, ActiveSince, Value, no identity) and the firing one at 23.
	corrupt := func(f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), good...))
	}
	cases := map[string][]byte{
		"version":          corrupt(func(b []byte) []byte { b[0] = 4; return b }),
		"header flags":     corrupt(func(b []byte) []byte { b[1] = 2; return b }),
		"truncated":        good[:len(good)-1],
		"trailing":         append(append([]byte(nil), good...), 0),
		"huge count":       {2, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad phase":        corrupt(func(b []byte) []byte { b[3+8] &^= flagPhase; return b }),
		"unsorted":         corrupt(func(b []byte) []byte { b[3+7] = 9; return b }),
		"only version":     {2},
		"bad varint":       {2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0},
		"zero flagged":     {2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1 | flagFiringSince, 2, 1, 0},
		"count too big":    {2, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 0},
		"empty name":       {2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 'g', 0, 0},
		"empty label name": {2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 'g', 1, 'A', 1, 0, 1, 'x'},
		"labels unsorted":  corrupt(func(b []byte) []byte { b[len(b)-3] = 'a'; return b }),
		"label count":      {2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 'g', 1, 'A', 9, 1, 'a', 0},
		"long group":       {2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 9, 'g', 1, 'A', 0},
		"v1 too big count": {1, 2, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2},
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeLifecycle(b); !errors.Is(err, ErrCorruptStates) {
				t.Errorf("err = %v", err)
			}
		})
	}
}
