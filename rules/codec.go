package rules

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// RuleState is the state of one rule.
type RuleState struct {
	Rule RuleID
	State
}

// States are the alert states of one source, sorted by rule ID. Only
// non-inactive states are kept: a source whose alerts are all inactive has
// empty States, so the per-source changelog value grows with active alerts,
// not with rules.
type States []RuleState

// Get returns the state of rule id (Inactive when absent).
func (s States) Get(id RuleID) State {
	if i, ok := s.find(id); ok {
		return s[i].State
	}
	return State{}
}

// Set stores the state of rule id; an Inactive state removes it.
func (s *States) Set(id RuleID, st State) {
	i, ok := s.find(id)
	switch {
	case st.Phase == Inactive && ok:
		*s = slices.Delete(*s, i, i+1)
	case st.Phase == Inactive:
	case ok:
		(*s)[i].State = st
	default:
		*s = slices.Insert(*s, i, RuleState{Rule: id, State: st})
	}
}

// Retain drops the states whose rule keep rejects (e.g. rules removed or
// changed by a reload).
func (s *States) Retain(keep func(RuleID) bool) {
	*s = slices.DeleteFunc(*s, func(rs RuleState) bool { return !keep(rs.Rule) })
}

func (s States) find(id RuleID) (int, bool) {
	return slices.BinarySearchFunc(s, id, func(e RuleState, id RuleID) int {
		switch {
		case e.Rule < id:
			return -1
		case e.Rule > id:
			return 1
		}
		return 0
	})
}

// statesVersion is the first byte of an encoding. Decoders reject versions
// they do not know; a new layout gets a new version and keeps reading old
// ones.
const statesVersion = 1

// Flag bits of an encoded state. The phase takes the low two bits; each
// optional field has a presence bit and is absent exactly when it is zero, so
// the encoding is lossless and a pending state stays small.
const (
	flagPhase       = 0x03
	flagClearing    = 0x04
	flagFiringSince = 0x08
	flagClearSince  = 0x10
	flagLastSent    = 0x20
	flagValue       = 0x40
	flagEpisode     = 0x80
)

// ErrCorruptStates is returned (wrapped) for input DecodeStates cannot read.
var ErrCorruptStates = errors.New("corrupt alert states")

// minEncodedState is the size of the smallest encoded state: rule ID, flags,
// one-byte ActiveSince.
const minEncodedState = 8 + 1 + 1

// AppendBinary appends the version 1 encoding of s to dst:
//
//	version byte (1), uvarint count, then per state in rule ID order:
//	rule ID (8 bytes big endian), flags byte, zigzag varint ActiveSince,
//	then if flagged: zigzag varint FiringSince-ActiveSince,
//	ClearSince-ActiveSince, LastSent-ActiveSince (in that order),
//	Value (8 bytes IEEE 754 big endian), Episode (8 bytes big endian).
//
// Inactive entries are skipped. A firing alert takes about 35 bytes.
func (s States) AppendBinary(dst []byte) ([]byte, error) {
	n := 0
	for _, e := range s {
		if e.Phase != Inactive {
			n++
		}
	}
	dst = append(dst, statesVersion)
	dst = binary.AppendUvarint(dst, uint64(n))
	var prev RuleID
	first := true
	for _, e := range s {
		if e.Phase == Inactive {
			continue
		}
		if e.Phase > Firing {
			return nil, fmt.Errorf("encode alert states: rule %s: bad phase %d", e.Rule, e.Phase)
		}
		if !first && e.Rule <= prev {
			return nil, fmt.Errorf("encode alert states: rule %s: not sorted", e.Rule)
		}
		prev, first = e.Rule, false
		flags := byte(e.Phase)
		if e.Clearing {
			flags |= flagClearing
		}
		if e.FiringSince != 0 {
			flags |= flagFiringSince
		}
		if e.ClearSince != 0 {
			flags |= flagClearSince
		}
		if e.LastSent != 0 {
			flags |= flagLastSent
		}
		if math.Float64bits(e.Value) != 0 {
			flags |= flagValue
		}
		if e.Episode != 0 {
			flags |= flagEpisode
		}
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.Rule))
		dst = append(dst, flags)
		dst = binary.AppendVarint(dst, e.ActiveSince)
		if e.FiringSince != 0 {
			dst = binary.AppendVarint(dst, e.FiringSince-e.ActiveSince)
		}
		if e.ClearSince != 0 {
			dst = binary.AppendVarint(dst, e.ClearSince-e.ActiveSince)
		}
		if e.LastSent != 0 {
			dst = binary.AppendVarint(dst, e.LastSent-e.ActiveSince)
		}
		if flags&flagValue != 0 {
			dst = binary.BigEndian.AppendUint64(dst, math.Float64bits(e.Value))
		}
		if e.Episode != 0 {
			dst = binary.BigEndian.AppendUint64(dst, e.Episode)
		}
	}
	return dst, nil
}

// MarshalBinary is AppendBinary to a new slice.
func (s States) MarshalBinary() ([]byte, error) { return s.AppendBinary(nil) }

// UnmarshalBinary replaces s with the decoding of b (see DecodeStates).
func (s *States) UnmarshalBinary(b []byte) error {
	d, err := DecodeStates(b)
	if err != nil {
		return err
	}
	*s = d
	return nil
}

// DecodeStates decodes AppendBinary's output. It rejects, with an error
// wrapping ErrCorruptStates, any input that is not exactly such an encoding:
// unknown version, truncation, trailing bytes, unsorted or duplicate rules,
// inactive or unknown phases, unknown flags. Empty input decodes as no states,
// which is what a source without a stored value has.
func DecodeStates(b []byte) (States, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if b[0] != statesVersion {
		return nil, fmt.Errorf("%w: unknown version %d", ErrCorruptStates, b[0])
	}
	d := decoder{b: b[1:]}
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)/minEncodedState) {
		return nil, fmt.Errorf("%w: %d states cannot fit in %d bytes", ErrCorruptStates, n, len(d.b))
	}
	var out States
	if n > 0 {
		out = make(States, 0, n)
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		var e RuleState
		e.Rule = RuleID(d.uint64())
		flags := d.byte()
		if d.err != nil {
			break
		}
		if i > 0 && e.Rule <= out[len(out)-1].Rule {
			return nil, fmt.Errorf("%w: rule %s out of order", ErrCorruptStates, e.Rule)
		}
		e.Phase = Phase(flags & flagPhase)
		if e.Phase != Pending && e.Phase != Firing {
			return nil, fmt.Errorf("%w: rule %s: bad phase %d", ErrCorruptStates, e.Rule, e.Phase)
		}
		e.Clearing = flags&flagClearing != 0
		e.ActiveSince = d.varint()
		if flags&flagFiringSince != 0 {
			e.FiringSince = d.delta(e.ActiveSince)
		}
		if flags&flagClearSince != 0 {
			e.ClearSince = d.delta(e.ActiveSince)
		}
		if flags&flagLastSent != 0 {
			e.LastSent = d.delta(e.ActiveSince)
		}
		if flags&flagValue != 0 {
			e.Value = math.Float64frombits(d.uint64())
		}
		if flags&flagEpisode != 0 {
			e.Episode = d.uint64()
		}
		if d.err == nil && (flags&flagFiringSince != 0 && e.FiringSince == 0 ||
			flags&flagClearSince != 0 && e.ClearSince == 0 ||
			flags&flagLastSent != 0 && e.LastSent == 0 ||
			flags&flagValue != 0 && math.Float64bits(e.Value) == 0 ||
			flags&flagEpisode != 0 && e.Episode == 0) {
			return nil, fmt.Errorf("%w: rule %s: zero field flagged present", ErrCorruptStates, e.Rule)
		}
		out = append(out, e)
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrCorruptStates, len(d.b))
	}
	return out, nil
}

// decoder reads from b, recording the first error and returning zeros after it.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated or bad %s", ErrCorruptStates, what)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail("flags")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uint64() uint64 {
	if len(d.b) < 8 {
		d.fail("fixed-size field")
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

// minimal reports whether the n-byte varint at the head of b is in its
// shortest form (the last byte of a longer one is never 0), which keeps the
// encoding canonical.
func (d *decoder) minimal(n int) bool {
	return n == 1 || d.b[n-1] != 0
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 || !d.minimal(n) {
		d.fail("count")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 || !d.minimal(n) {
		d.fail("time")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) delta(base int64) int64 {
	return base + d.varint()
}
