package tables

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/eventops/eventops/features"
	"github.com/eventops/eventops/rules"
)

// SourceState is the value of the features group table: everything a
// source's actor needs to resume exactly where it stopped. Its size grows
// with the source's metrics and active alerts, never with time or rate, and
// the actors bound it (see actors.SourcesOptions.MaxStateBytes).
type SourceState struct {
	// Generation and Epoch name the session that wrote the state: the
	// consumer group's generation and the wall time (ms) the session
	// started. A state written by an owner that lost its partition (a late
	// flush) carries both older than the new owner's, so recovery keeps the
	// newer one (see StoreIsNewer); a group that started again (deleted, or
	// its offsets expired) counts generations from 1 again, but its
	// sessions start later.
	Generation int64
	Epoch      int64
	// Rules is the fingerprint of the rule set the state was last evaluated
	// under (rules.RuleSet.Fingerprint): a source stored under other rules
	// has rules to catch up on.
	Rules uint64
	// NextDeadline is the source time of the earliest rule deadline the
	// state holds (a for elapsing, keep_firing_for ending, a no-data
	// threshold), 0 when nothing is due without new data. Only sources with
	// a deadline need their actor after a rebalance.
	NextDeadline int64
	// Partition and Offset are the last signals record applied, and
	// OffsetMilli that record's timestamp. A record at or below Offset is a
	// redelivery and is not applied again, unless its timestamp is newer
	// than OffsetMilli: then the log was recreated (its offsets started
	// again) and the record is new.
	Partition   int32
	Offset      int64
	OffsetMilli int64
	// EventMilli is the source's event-time clock: the newest event time
	// applied, each capped at its record's receive time so that a sample
	// from a clock running ahead cannot move it. ArrivalMilli is the wall
	// time that record arrived. Together they are the source's clock while
	// it is silent (see actors).
	EventMilli   int64
	ArrivalMilli int64
	Meta         *SourceMeta
	// Origins are the highest raw records applied, per raw partition. The
	// ingest stage is at-least-once too: after a crash it reads raw records
	// again and writes their signals again, with new offsets; a signal whose
	// origin is at or below its partition's mark, and not newer than it, is
	// such a duplicate.
	Origins []OriginMark
	// Metrics are the source's series, sorted by metric name, then by tags
	// (Tags.Compare).
	Metrics []MetricState
	// Lifecycle holds the source's alert states (Alerts) and the source
	// time of their last evaluation, from which the rules step through
	// their deadlines (rules.RuleSet.AdvanceUntil).
	rules.Lifecycle
}

// OriginMark is the highest record of one raw partition applied to a state:
// its offset and its timestamp (the broker's receive time, in µs).
type OriginMark struct {
	Partition int32
	Offset    int64
	Micro     int64
}

// SeenOrigin reports whether a signal from origin o, whose raw record has
// timestamp micro, was applied already. Origins of no raw partition
// (Partition < 0: HTTP ingest) are never seen. A record at or below the
// mark's offset but newer than the mark comes from a log that started
// again (the topic was recreated, or its offsets were reset): it is new.
func (s *SourceState) SeenOrigin(o Origin, micro int64) bool {
	if o.Partition < 0 {
		return false
	}
	for _, m := range s.Origins {
		if m.Partition == o.Partition {
			return o.Offset <= m.Offset && micro <= m.Micro
		}
	}
	return false
}

// MarkOrigin records that a signal from origin o (raw record timestamp
// micro) was applied. A mark moves forward with the offset, and is replaced
// by a record of a log that started again.
func (s *SourceState) MarkOrigin(o Origin, micro int64) {
	if o.Partition < 0 {
		return
	}
	for i := range s.Origins {
		m := &s.Origins[i]
		if m.Partition == o.Partition {
			if o.Offset > m.Offset || micro > m.Micro {
				m.Offset, m.Micro = o.Offset, max(micro, m.Micro)
			}
			return
		}
	}
	s.Origins = append(s.Origins, OriginMark{Partition: o.Partition, Offset: o.Offset, Micro: micro})
	sort.Slice(s.Origins, func(i, j int) bool { return s.Origins[i].Partition < s.Origins[j].Partition })
}

// Redelivered reports whether the signals record at offset of partition,
// with timestamp milli, is covered by the state already.
func (s *SourceState) Redelivered(partition int32, offset, milli int64) bool {
	return s.Partition == partition && offset <= s.Offset && milli <= s.OffsetMilli
}

// MetricState is the feature series of one series: a metric with a set of
// tags.
type MetricState struct {
	Name   string
	Tags   Tags
	Unit   string
	Series *features.Series
	// Untagged marks a series kept by a version that folded every tag set
	// of a metric into one series: its tags are not known. The first
	// sample of the metric takes it over (see FindSeries), so an upgrade
	// keeps the windows.
	Untagged bool
	// SeenMilli is the source's event time (SourceState.EventMilli) when
	// the series last took a sample: a series is stale by its source's
	// clock, so that one whose own clock runs behind is not.
	SeenMilli int64
}

func (m *MetricState) compare(name string, tags Tags) int {
	if c := strings.Compare(m.Name, name); c != 0 {
		return c
	}
	return m.Tags.Compare(tags)
}

func (s *SourceState) search(name string, tags Tags) (int, bool) {
	i := sort.Search(len(s.Metrics), func(i int) bool { return s.Metrics[i].compare(name, tags) >= 0 })
	return i, i < len(s.Metrics) && s.Metrics[i].compare(name, tags) == 0 && !s.Metrics[i].Untagged
}

// Metric returns the state of the series of metric name without tags, or
// nil.
func (s *SourceState) Metric(name string) *MetricState { return s.Series(name, nil) }

// Series returns the state of the series of metric name with tags, or nil.
func (s *SourceState) Series(name string, tags Tags) *MetricState {
	if i, ok := s.search(name, tags); ok {
		return &s.Metrics[i]
	}
	return nil
}

// FindSeries returns the state of the series of metric name with tags, or
// nil. When there is none but the metric has a series of unknown tags
// (Untagged, from an older version that folded every tag set into it), a
// sample without tags takes it over: it is returned with adopted set. A
// sample with tags does not: the window mixes the metric's tag sets, and
// would be read as that series' own (see DropUntagged).
func (s *SourceState) FindSeries(name string, tags Tags) (m *MetricState, adopted bool) {
	if m := s.Series(name, tags); m != nil || len(tags) > 0 {
		return m, false
	}
	i, _ := s.search(name, nil)
	if i >= len(s.Metrics) || s.Metrics[i].Name != name || !s.Metrics[i].Untagged {
		return nil, false
	}
	s.Metrics[i].Untagged = false
	return &s.Metrics[i], true
}

// DropUntagged removes the series of unknown tags of metric name (see
// FindSeries), and reports whether there was one.
func (s *SourceState) DropUntagged(name string) bool {
	i, _ := s.search(name, nil)
	if i >= len(s.Metrics) || s.Metrics[i].Name != name || !s.Metrics[i].Untagged {
		return false
	}
	s.Metrics = append(s.Metrics[:i], s.Metrics[i+1:]...)
	return true
}

// AddMetric inserts a series' state, keeping the order.
func (s *SourceState) AddMetric(m MetricState) *MetricState {
	i := sort.Search(len(s.Metrics), func(i int) bool { return s.Metrics[i].compare(m.Name, m.Tags) >= 0 })
	s.Metrics = append(s.Metrics, MetricState{})
	copy(s.Metrics[i+1:], s.Metrics[i:])
	s.Metrics[i] = m
	return &s.Metrics[i]
}

// State encodings: versions 1 (no generation, deadline or record times),
// 2 (a series per metric, without tags) and 3 (no source time per series)
// are still read; version 4 is written.
const (
	stateVersion1 = 1
	stateVersion2 = 2
	stateVersion3 = 3
	stateVersion  = 4
)

// State flags.
const (
	// stateHasAlerts: the state holds alert states (pending or firing).
	stateHasAlerts = 1 << iota
)

// AppendBinary encodes the state after dst. The header (version,
// generation, next deadline, flags) comes first so that DecodeStateHeader
// reads it without decoding the rest.
func (s *SourceState) AppendBinary(dst []byte) ([]byte, error) {
	b := append(dst, stateVersion)
	b = appendVarint(b, s.Generation)
	b = appendVarint(b, s.Epoch)
	b = appendUvarint(b, s.Rules)
	b = appendVarint(b, s.NextDeadline)
	var flags byte
	if len(s.Alerts) > 0 {
		flags |= stateHasAlerts
	}
	b = append(b, flags)
	b = appendVarint(b, int64(s.Partition))
	b = appendVarint(b, s.Offset)
	b = appendVarint(b, s.OffsetMilli)
	b = appendVarint(b, s.EventMilli)
	b = appendVarint(b, s.ArrivalMilli)
	b = appendOptionalMeta(b, s.Meta)
	b = appendUvarint(b, uint64(len(s.Origins)))
	for _, o := range s.Origins {
		b = appendVarint(b, int64(o.Partition))
		b = appendVarint(b, o.Offset)
		b = appendVarint(b, o.Micro)
	}
	b = appendUvarint(b, uint64(len(s.Metrics)))
	for _, m := range s.Metrics {
		b = appendString(b, m.Name)
		// The tag count, doubled, with the low bit for Untagged.
		nt := uint64(len(m.Tags)) << 1
		if m.Untagged {
			nt |= 1
		}
		b = appendUvarint(b, nt)
		for _, t := range m.Tags {
			b = appendString(b, t.Key)
			b = appendString(b, t.Value)
		}
		b = appendString(b, m.Unit)
		b = appendVarint(b, m.SeenMilli)
		// Length-prefixed, so that a series that no longer decodes (its
		// metric's configuration changed) can be skipped.
		start := len(b)
		b = append(b, 0, 0, 0, 0)
		b = m.Series.AppendBinary(b)
		n := len(b) - start - 4
		b[start], b[start+1], b[start+2], b[start+3] = byte(n), byte(n>>8), byte(n>>16), byte(n>>24)
	}
	alerts, err := s.Lifecycle.AppendBinary(nil)
	if err != nil {
		return nil, fmt.Errorf("encode alert states: %w", err)
	}
	return appendString(b, string(alerts)), nil
}

// StateHeader is what a stored state says about itself before its body is
// decoded.
type StateHeader struct {
	Generation   int64
	Epoch        int64
	Rules        uint64
	NextDeadline int64
	HasAlerts    bool
	// Legacy: the state was written by an older version that kept none of
	// the above (every field is then the most conservative: a deadline and
	// alerts are assumed, under unknown rules).
	Legacy bool
	// Version is the encoding's.
	Version byte
}

// DecodeStateHeader reads a stored state's header.
func DecodeStateHeader(data []byte) (StateHeader, error) {
	r := &reader{b: data}
	h := r.header()
	return h, r.err
}

func (r *reader) header() StateHeader {
	v := r.byte("version")
	switch {
	case r.err != nil:
		return StateHeader{}
	case v == stateVersion1:
		return StateHeader{Legacy: true, NextDeadline: 1, HasAlerts: true, Version: v}
	case v != stateVersion && v != stateVersion3 && v != stateVersion2:
		r.err = fmt.Errorf("%w: state version %d", ErrCorrupt, v)
		return StateHeader{}
	}
	h := StateHeader{Version: v, Generation: r.varint("generation"), Epoch: r.varint("epoch"), Rules: r.uvarint("rules"),
		NextDeadline: r.varint("next deadline")}
	h.HasAlerts = r.byte("flags")&stateHasAlerts != 0
	return h
}

// NeedsActor reports whether a stored source needs its actor without a
// new signal: it has a rule deadline to meet, alerts to keep, or was last
// evaluated under other rules than those of fingerprint rules.
func (h StateHeader) NeedsActor(rules uint64) bool {
	return h.NextDeadline != 0 || h.HasAlerts || h.Legacy || h.Rules != rules
}

// StoreIsNewer reports whether a state that is about to replace stored
// must be kept out because stored was written by a later session: a flush
// of an owner that had already lost the partition, landing late. Both the
// generation and the session's start must say so (a group that started
// again counts generations anew; clocks of replicas may differ a little).
// Values that do not decode never block a write.
func StoreIsNewer(stored, incoming []byte) bool {
	if len(stored) == 0 || len(incoming) == 0 {
		return false
	}
	old, err1 := DecodeStateHeader(stored)
	inc, err2 := DecodeStateHeader(incoming)
	if err1 != nil || err2 != nil || old.Legacy || inc.Legacy {
		return false
	}
	return inc.Generation < old.Generation && inc.Epoch < old.Epoch
}

// DecodeSourceState decodes a state; cfg gives each metric's feature
// configuration. A series that does not decode under its metric's current
// configuration starts afresh and its metric is named in reset. The
// series of a state of version 1 or 2 (one per metric, whatever its tags)
// are Untagged.
func DecodeSourceState(data []byte, cfg func(metric string) features.Config) (s *SourceState, reset []string, err error) {
	r := &reader{b: data}
	h := r.header()
	if r.err != nil {
		return nil, nil, r.err
	}
	s = &SourceState{Generation: h.Generation, Epoch: h.Epoch, Rules: h.Rules, NextDeadline: h.NextDeadline}
	s.Partition = int32(r.varint("partition"))
	s.Offset = r.varint("offset")
	if !h.Legacy {
		s.OffsetMilli = r.varint("offset time")
	} else {
		// The record times were not kept: offsets alone decide, as before.
		s.OffsetMilli = math.MaxInt64
	}
	s.EventMilli = r.varint("event time")
	s.ArrivalMilli = r.varint("arrival time")
	s.Meta = r.optionalMeta()
	if no := r.count("origins", 2); no > 0 {
		s.Origins = make([]OriginMark, no)
		for i := range s.Origins {
			o := OriginMark{Partition: int32(r.varint("origin partition")), Offset: r.varint("origin offset"), Micro: math.MaxInt64}
			if !h.Legacy {
				o.Micro = r.varint("origin time")
			}
			s.Origins[i] = o
		}
	}
	n := r.count("metrics", 6)
	for i := 0; i < n && r.err == nil; i++ {
		name := r.string("metric name")
		var tags Tags
		untagged := h.Version < stateVersion3
		if !untagged {
			nt := r.uvarint("tag count")
			untagged = nt&1 != 0
			if nt >>= 1; nt > uint64(len(r.b)/2) {
				r.fail("tag count")
			}
			for j := uint64(0); j < nt && r.err == nil; j++ {
				t := Tag{Key: r.string("tag key"), Value: r.string("tag value")}
				if j > 0 && t.Key <= tags[j-1].Key {
					r.fail("tags order")
				}
				tags = append(tags, t)
			}
		}
		unit := r.string("metric unit")
		// Before version 4 the source time of a series' last sample was
		// not kept: it counts from the source's newest event time.
		seen := s.EventMilli
		if h.Version >= stateVersion {
			seen = r.varint("series time")
		}
		if r.err != nil || len(r.b) < 4 {
			r.fail("series length")
			break
		}
		l := int(r.b[0]) | int(r.b[1])<<8 | int(r.b[2])<<16 | int(r.b[3])<<24
		r.b = r.b[4:]
		if l < 0 || l > len(r.b) {
			r.fail("series")
			break
		}
		raw := r.b[:l]
		r.b = r.b[l:]
		c := cfg(name)
		ser, rest, err := features.DecodeSeries(c, raw)
		if err != nil || len(rest) != 0 {
			if len(reset) == 0 || reset[len(reset)-1] != name {
				reset = append(reset, name)
			}
			ser = features.NewSeries(c)
		}
		s.Metrics = append(s.Metrics, MetricState{Name: name, Tags: tags, Unit: unit, Series: ser, Untagged: untagged, SeenMilli: seen})
	}
	alerts := r.bytes("alert states")
	if r.err == nil && len(r.b) != 0 {
		r.fail("trailing bytes")
	}
	if r.err != nil {
		return nil, nil, r.err
	}
	if s.Lifecycle, err = rules.DecodeLifecycle(alerts); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	sort.Slice(s.Metrics, func(i, j int) bool { return s.Metrics[i].compare(s.Metrics[j].Name, s.Metrics[j].Tags) < 0 })
	return s, reset, nil
}
