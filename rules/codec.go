package rules

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// RuleState is the state of one rule for one series (State.Series).
type RuleState struct {
	Rule RuleID
	State
}

// States are the alert states of one source, sorted by rule ID, then by
// series. Only non-inactive states are kept: a source whose alerts are all
// inactive has empty States, so the per-source changelog value grows with
// active alerts, not with rules.
type States []RuleState

// Get returns the state of rule id for the series without tags (Inactive
// when absent).
func (s States) Get(id RuleID) State { return s.GetSeries(id, nil) }

// GetSeries returns the state of rule id for the series with tags
// (Inactive when absent).
func (s States) GetSeries(id RuleID, tags []Label) State {
	if i, ok := s.find(id, tags); ok {
		return s[i].State
	}
	return State{}
}

// Set stores the state of rule id for the series st.Series; an Inactive
// state removes it.
func (s *States) Set(id RuleID, st State) { s.setSeries(id, st.Series, st) }

func (s *States) setSeries(id RuleID, tags []Label, st State) {
	i, ok := s.find(id, tags)
	switch {
	case st.Phase == Inactive && ok:
		*s = slices.Delete(*s, i, i+1)
	case st.Phase == Inactive:
	case ok:
		st.Series = (*s)[i].Series
		(*s)[i].State = st
	default:
		st.Series = tags
		*s = slices.Insert(*s, i, RuleState{Rule: id, State: st})
	}
}

// AdoptUntagged makes the states of the series without tags of the rules
// for which adopt reports true the states of the series with tags, keeping
// their episodes: the series a previous version kept without its tags is
// now known as that one. A rule that has a state for tags already keeps
// that one.
func (s *States) AdoptUntagged(tags []Label, adopt func(RuleID) bool) {
	moved := false
	for i := range *s {
		e := &(*s)[i]
		if len(e.Series) != 0 || !adopt(e.Rule) {
			continue
		}
		if _, ok := s.find(e.Rule, tags); ok {
			continue
		}
		e.Series, moved = tags, true
	}
	if moved {
		slices.SortFunc(*s, compareStates)
	}
}

// ofRule returns the states of rule id.
func (s States) ofRule(id RuleID) States {
	lo, hi := s.ruleRange(id)
	return s[lo:hi]
}

func (s States) ruleRange(id RuleID) (lo, hi int) {
	lo, _ = slices.BinarySearchFunc(s, id, func(e RuleState, id RuleID) int { return cmpRule(e.Rule, id) })
	hi = lo
	for hi < len(s) && s[hi].Rule == id {
		hi++
	}
	return lo, hi
}

func cmpRule(a, b RuleID) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func compareStates(a, b RuleState) int {
	if c := cmpRule(a.Rule, b.Rule); c != 0 {
		return c
	}
	return CompareLabels(a.Series, b.Series)
}

func (s States) find(id RuleID, tags []Label) (int, bool) {
	return slices.BinarySearchFunc(s, RuleState{Rule: id, State: State{Series: tags}}, compareStates)
}

// Versions of the encoding, its first byte. Version 1 held the states only;
// version 2 adds the evaluation time and each state's Identity; version 3
// each state's series. Decoders read all three (a state of an older one is
// of the series without tags) and reject others.
const (
	version1       = 1
	version2       = 2
	currentVersion = 3
)

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

// flagEvaluated, in the header flags, says the evaluation time follows.
const flagEvaluated = 0x01

// ErrCorruptStates is returned (wrapped) for input DecodeLifecycle cannot
// read.
var ErrCorruptStates = errors.New("corrupt alert states")

// minEncodedState is the size of the smallest encoded state of a version:
// rule ID, flags, one-byte ActiveSince (and, from version 2, one-byte
// identity).
func minEncodedState(version byte) int {
	switch version {
	case version1:
		return 8 + 1 + 1
	case version2:
		return 8 + 1 + 1 + 1
	}
	return 8 + 1 + 1 + 1 + 1
}

// AppendBinary appends the version 3 encoding of lc to dst:
//
//	version byte (3), flags byte (bit 0: the evaluation time is known),
//	zigzag varint evaluation time if known, uvarint count, then per state
//	in rule ID order: rule ID (8 bytes big endian), flags byte, zigzag
//	varint ActiveSince minus the evaluation time (or 0 when not known),
//	then if flagged: zigzag varint FiringSince-ActiveSince,
//	ClearSince-ActiveSince, LastSent-ActiveSince (in that order), Value
//	(8 bytes IEEE 754 big endian), Episode (8 bytes big endian); then the
//	identity: uvarint 0 when none, else uvarint len(group)+1, the group,
//	uvarint len(name), the name, uvarint label count and per label, in
//	name order, uvarint length and bytes of its name, then of its value;
//	then the series: uvarint tag count and per tag, in name order, its
//	name and value as the labels'.
//
// Inactive entries are skipped. The header takes about 9 bytes, a firing
// alert about 34 plus its identity (HighCPU of group host with severity
// critical: 32 more).
// Version 2 (DecodeLifecycle still reads it) was the same without series;
// version 1: version byte (1), count, then each state as above,
// ActiveSince absolute, without identity.
func (lc *Lifecycle) AppendBinary(dst []byte) ([]byte, error) {
	s := lc.Alerts
	n := 0
	for _, e := range s {
		if e.Phase != Inactive {
			n++
		}
	}
	dst = append(dst, currentVersion)
	var base int64
	if lc.evaluated {
		base = lc.at
		dst = append(dst, flagEvaluated)
		dst = binary.AppendVarint(dst, lc.at)
	} else {
		dst = append(dst, 0)
	}
	dst = binary.AppendUvarint(dst, uint64(n))
	var prev RuleState
	first := true
	for _, e := range s {
		if e.Phase == Inactive {
			continue
		}
		if e.Phase > Firing {
			return nil, fmt.Errorf("encode alert states: rule %s: bad phase %d", e.Rule, e.Phase)
		}
		if !first && compareStates(e, prev) <= 0 {
			return nil, fmt.Errorf("encode alert states: rule %s: not sorted", e.Rule)
		}
		prev, first = e, false
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
		dst = binary.AppendVarint(dst, e.ActiveSince-base)
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
		var err error
		if dst, err = appendIdentity(dst, e.Identity); err != nil {
			return nil, fmt.Errorf("encode alert states: rule %s: %w", e.Rule, err)
		}
		dst = binary.AppendUvarint(dst, uint64(len(e.Series)))
		for _, l := range e.Series {
			dst = appendString(dst, l.Name)
			dst = appendString(dst, l.Value)
		}
	}
	return dst, nil
}

func appendIdentity(dst []byte, id *Identity) ([]byte, error) {
	if id == nil {
		return append(dst, 0), nil
	}
	if id.Group == "" || id.Name == "" {
		return nil, errors.New("identity without a group or name")
	}
	dst = binary.AppendUvarint(dst, uint64(len(id.Group))+1)
	dst = append(dst, id.Group...)
	dst = appendString(dst, id.Name)
	dst = binary.AppendUvarint(dst, uint64(len(id.Labels)))
	for i, l := range id.Labels {
		if l.Name == "" || i > 0 && l.Name <= id.Labels[i-1].Name {
			return nil, errors.New("identity labels not sorted by name")
		}
		dst = appendString(dst, l.Name)
		dst = appendString(dst, l.Value)
	}
	return dst, nil
}

func appendString(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

// DecodeLifecycle decodes AppendBinary's output, and the version 1
// encoding (its evaluation time is then not known, and its states have no
// Identity). It rejects, with an error wrapping ErrCorruptStates, any input
// that is not exactly such an encoding: unknown version or flags,
// truncation, trailing bytes, unsorted or duplicate rules, inactive or
// unknown phases, identities with empty or unsorted names. Empty input
// decodes as the zero Lifecycle, which is what a source without a stored
// value has.
func DecodeLifecycle(b []byte) (Lifecycle, error) {
	var lc Lifecycle
	if len(b) == 0 {
		return lc, nil
	}
	version := b[0]
	if version != version1 && version != version2 && version != currentVersion {
		return lc, fmt.Errorf("%w: unknown version %d", ErrCorruptStates, version)
	}
	d := decoder{b: b[1:]}
	if version >= version2 {
		switch flags := d.byte(); flags {
		case flagEvaluated:
			lc.at, lc.evaluated = d.varint(), true
		case 0:
		default:
			d.fail("header flags")
		}
	}
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)/minEncodedState(version)) {
		return lc, fmt.Errorf("%w: %d states cannot fit in %d bytes", ErrCorruptStates, n, len(d.b))
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
		e.Phase = Phase(flags & flagPhase)
		if e.Phase != Pending && e.Phase != Firing {
			return lc, fmt.Errorf("%w: rule %s: bad phase %d", ErrCorruptStates, e.Rule, e.Phase)
		}
		e.Clearing = flags&flagClearing != 0
		e.ActiveSince = d.delta(lc.at)
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
			return lc, fmt.Errorf("%w: rule %s: zero field flagged present", ErrCorruptStates, e.Rule)
		}
		if version >= version2 {
			e.Identity = d.identity()
		}
		if version >= currentVersion {
			e.Series = d.series()
		}
		if d.err == nil && i > 0 && compareStates(e, out[len(out)-1]) <= 0 {
			return lc, fmt.Errorf("%w: rule %s out of order", ErrCorruptStates, e.Rule)
		}
		out = append(out, e)
	}
	if d.err != nil {
		return lc, d.err
	}
	if len(d.b) != 0 {
		return lc, fmt.Errorf("%w: %d trailing bytes", ErrCorruptStates, len(d.b))
	}
	lc.Alerts = out
	return lc, nil
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

// string reads a uvarint length and that many bytes.
func (d *decoder) string(what string) string {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.fail(what)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// series reads a state's series tags.
func (d *decoder) series() []Label {
	n := d.uvarint()
	// A tag takes at least 2 bytes (two lengths).
	if d.err == nil && n > uint64(len(d.b)/2) {
		d.fail("series tag count")
	}
	if d.err != nil || n == 0 {
		return nil
	}
	tags := make([]Label, 0, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		l := Label{Name: d.string("tag name"), Value: d.string("tag value")}
		if d.err == nil && i > 0 && l.Name <= tags[i-1].Name {
			d.fail("series tags")
		}
		tags = append(tags, l)
	}
	return tags
}

// identity reads what appendIdentity wrote.
func (d *decoder) identity() *Identity {
	g := d.uvarint()
	if d.err != nil || g == 0 {
		return nil
	}
	if g-1 > uint64(len(d.b)) {
		d.fail("identity group")
		return nil
	}
	id := &Identity{Group: string(d.b[:g-1])}
	d.b = d.b[g-1:]
	id.Name = d.string("identity name")
	n := d.uvarint()
	// A label takes at least 3 bytes (two lengths and a name byte).
	if d.err == nil && n > uint64(len(d.b)/3) {
		d.fail("identity label count")
	}
	if d.err != nil {
		return nil
	}
	if n > 0 {
		id.Labels = make([]Label, 0, n)
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		l := Label{Name: d.string("label name"), Value: d.string("label value")}
		if d.err == nil && (l.Name == "" || i > 0 && l.Name <= id.Labels[i-1].Name) {
			d.fail("identity labels")
		}
		id.Labels = append(id.Labels, l)
	}
	if d.err == nil && (id.Group == "" || id.Name == "") {
		d.fail("identity without a group or name")
	}
	return id
}
