package tables

import (
	"fmt"
	"sort"

	"github.com/eventops/eventops/features"
	"github.com/eventops/eventops/rules"
)

// SourceState is the value of the features group table: everything a
// source's actor needs to resume exactly where it stopped. Its size grows
// with the source's metrics and active alerts, never with time or rate.
type SourceState struct {
	// Partition and Offset are the last input record applied. A record at
	// or below Offset is a redelivery and is not applied again; this is what
	// makes a replay after a crash safe.
	Partition int32
	Offset    int64
	// EventMilli is the newest event time seen; ArrivalMilli the wall time
	// its record arrived. Together they are the source's clock while it is
	// silent (see actors).
	EventMilli   int64
	ArrivalMilli int64
	Meta         *SourceMeta
	// Origins are the highest raw offsets applied, per raw partition. The
	// ingest stage is at-least-once too: after a crash it reads raw records
	// again and writes their signals again, with new offsets; a signal whose
	// origin is at or below its partition's mark is such a duplicate.
	Origins []OriginMark
	// Metrics are sorted by name.
	Metrics []MetricState
	// Lifecycle holds the source's alert states (Alerts) and the source
	// time of their last evaluation, from which the rules step through
	// their deadlines (rules.RuleSet.AdvanceUntil).
	rules.Lifecycle
}

// OriginMark is the highest offset of one raw partition applied to a state.
type OriginMark struct {
	Partition int32
	Offset    int64
}

// SeenOrigin reports whether a signal from origin o was applied already.
// Origins of no raw partition (Partition < 0) are never duplicates.
func (s *SourceState) SeenOrigin(o Origin) bool {
	if o.Partition < 0 {
		return false
	}
	for _, m := range s.Origins {
		if m.Partition == o.Partition {
			return o.Offset <= m.Offset
		}
	}
	return false
}

// MarkOrigin records that a signal from origin o was applied.
func (s *SourceState) MarkOrigin(o Origin) {
	if o.Partition < 0 {
		return
	}
	for i := range s.Origins {
		if s.Origins[i].Partition == o.Partition {
			if o.Offset > s.Origins[i].Offset {
				s.Origins[i].Offset = o.Offset
			}
			return
		}
	}
	s.Origins = append(s.Origins, OriginMark{Partition: o.Partition, Offset: o.Offset})
	sort.Slice(s.Origins, func(i, j int) bool { return s.Origins[i].Partition < s.Origins[j].Partition })
}

// MetricState is one metric's feature series.
type MetricState struct {
	Name   string
	Unit   string
	Series *features.Series
}

// Metric returns the state of a metric, or nil.
func (s *SourceState) Metric(name string) *MetricState {
	i := sort.Search(len(s.Metrics), func(i int) bool { return s.Metrics[i].Name >= name })
	if i < len(s.Metrics) && s.Metrics[i].Name == name {
		return &s.Metrics[i]
	}
	return nil
}

// AddMetric inserts a metric's state, keeping the order.
func (s *SourceState) AddMetric(m MetricState) *MetricState {
	i := sort.Search(len(s.Metrics), func(i int) bool { return s.Metrics[i].Name >= m.Name })
	s.Metrics = append(s.Metrics, MetricState{})
	copy(s.Metrics[i+1:], s.Metrics[i:])
	s.Metrics[i] = m
	return &s.Metrics[i]
}

const stateVersion = 1

// AppendBinary encodes the state after dst.
func (s *SourceState) AppendBinary(dst []byte) ([]byte, error) {
	b := append(dst, stateVersion)
	b = appendVarint(b, int64(s.Partition))
	b = appendVarint(b, s.Offset)
	b = appendVarint(b, s.EventMilli)
	b = appendVarint(b, s.ArrivalMilli)
	b = appendOptionalMeta(b, s.Meta)
	b = appendUvarint(b, uint64(len(s.Origins)))
	for _, o := range s.Origins {
		b = appendVarint(b, int64(o.Partition))
		b = appendVarint(b, o.Offset)
	}
	b = appendUvarint(b, uint64(len(s.Metrics)))
	for _, m := range s.Metrics {
		b = appendString(b, m.Name)
		b = appendString(b, m.Unit)
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

// DecodeSourceState decodes a state; cfg gives each metric's feature
// configuration. A metric whose series does not decode under its current
// configuration starts afresh and is named in reset.
func DecodeSourceState(data []byte, cfg func(metric string) features.Config) (s *SourceState, reset []string, err error) {
	r := &reader{b: data}
	if v := r.byte("version"); r.err == nil && v != stateVersion {
		return nil, nil, fmt.Errorf("%w: state version %d", ErrCorrupt, v)
	}
	s = &SourceState{
		Partition:    int32(r.varint("partition")),
		Offset:       r.varint("offset"),
		EventMilli:   r.varint("event time"),
		ArrivalMilli: r.varint("arrival time"),
	}
	s.Meta = r.optionalMeta()
	if no := r.count("origins", 2); no > 0 {
		s.Origins = make([]OriginMark, no)
		for i := range s.Origins {
			s.Origins[i] = OriginMark{Partition: int32(r.varint("origin partition")), Offset: r.varint("origin offset")}
		}
	}
	n := r.count("metrics", 6)
	for i := 0; i < n && r.err == nil; i++ {
		name, unit := r.string("metric name"), r.string("metric unit")
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
			reset = append(reset, name)
			ser = features.NewSeries(c)
		}
		s.Metrics = append(s.Metrics, MetricState{Name: name, Unit: unit, Series: ser})
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
	sort.Slice(s.Metrics, func(i, j int) bool { return s.Metrics[i].Name < s.Metrics[j].Name })
	return s, reset, nil
}
