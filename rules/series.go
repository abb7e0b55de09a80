package rules

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/eventops/eventops/features"
)

// A series is one metric of a source with one set of tags. Tags are labels
// sorted by name; a rule is evaluated once per series of what it reads (see
// RuleSet.Advance), and a series' tags are among its alert's labels.

// CompareLabels orders name-sorted label lists: label by label, name then
// value, a list that is a prefix of the other first.
func CompareLabels(a, b []Label) int {
	return slices.CompareFunc(a, b, func(x, y Label) int {
		if c := strings.Compare(x.Name, y.Name); c != 0 {
			return c
		}
		return strings.Compare(x.Value, y.Value)
	})
}

// matches reports whether tags (sorted) hold every label of sel (sorted).
func matches(tags, sel []Label) bool {
	i := 0
	for _, m := range sel {
		for i < len(tags) && tags[i].Name < m.Name {
			i++
		}
		if i == len(tags) || tags[i] != m {
			return false
		}
	}
	return true
}

// ParseSeries parses a metric with an optional selector, as rules name
// them: cpu_load, or disk_used_pct{mount="/",env="prod"}. A value is a
// double-quoted string in which \" and \\ stand for " and \. The labels
// come back sorted by name; a name given twice is an error.
func ParseSeries(s string) (metric string, sel []Label, err error) {
	open := strings.IndexByte(s, '{')
	if open < 0 {
		return s, nil, nil
	}
	metric, rest := s[:open], s[open+1:]
	if metric == "" {
		return "", nil, fmt.Errorf("%q: no metric before the selector", s)
	}
	for {
		rest = strings.TrimLeft(rest, " ")
		if strings.HasPrefix(rest, "}") {
			rest = rest[1:]
			break
		}
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			return "", nil, fmt.Errorf("%q: expected name=\"value\"", s)
		}
		name := strings.TrimSpace(rest[:eq])
		if name == "" || strings.ContainsAny(name, `"{},!~`) {
			return "", nil, fmt.Errorf("%q: bad tag name %q (only = matchers are supported)", s, name)
		}
		rest = strings.TrimLeft(rest[eq+1:], " ")
		if !strings.HasPrefix(rest, `"`) {
			return "", nil, fmt.Errorf("%q: the value of %s must be double-quoted", s, name)
		}
		var b strings.Builder
		i, closed := 1, false
		for ; i < len(rest); i++ {
			c := rest[i]
			if c == '\\' && i+1 < len(rest) && (rest[i+1] == '"' || rest[i+1] == '\\') {
				b.WriteByte(rest[i+1])
				i++
				continue
			}
			if c == '"' {
				closed = true
				break
			}
			b.WriteByte(c)
		}
		if !closed {
			return "", nil, fmt.Errorf("%q: unterminated value of %s", s, name)
		}
		sel = append(sel, Label{Name: name, Value: b.String()})
		rest = strings.TrimLeft(rest[i+1:], " ")
		switch {
		case strings.HasPrefix(rest, ","):
			rest = rest[1:]
		case strings.HasPrefix(rest, "}"):
		default:
			return "", nil, fmt.Errorf("%q: expected , or } after %s", s, name)
		}
	}
	if strings.TrimSpace(rest) != "" {
		return "", nil, fmt.Errorf("%q: text after the selector", s)
	}
	slices.SortFunc(sel, func(a, b Label) int { return strings.Compare(a.Name, b.Name) })
	for i := 1; i < len(sel); i++ {
		if sel[i].Name == sel[i-1].Name {
			return "", nil, fmt.Errorf("%q: tag %s given twice", s, sel[i].Name)
		}
	}
	return metric, sel, nil
}

// FormatSelector writes name-sorted labels as a selector's inside:
// k="v",k2="v2".
func FormatSelector(sel []Label) string {
	var b strings.Builder
	for i, l := range sel {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l.Name)
		b.WriteString(`="`)
		b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(l.Value))
		b.WriteByte('"')
	}
	return b.String()
}

// SourceFeatures serves Features from the feature series of one source. It
// is how an actor (and the rule-test runner) connects the feature engine to
// rules. The zero value is empty and ready. It is not safe for concurrent
// use: one actor owns it, and the series it is given are read through it
// only (Set gives them its scratch).
type SourceFeatures struct {
	byMetric map[string][]seriesEntry // sorted by tags
	// The series of the metric read last: an evaluation reads one metric
	// several times in a row.
	lastMetric string
	last       []seriesEntry
	// scratch holds the buffers of window reads for all the series: they
	// are read one at a time, so none keeps its own.
	scratch features.Scratch
	// recent are the newest samples noted (NoteSample), for explanations;
	// nil until the first.
	recent *recentRing
}

// recentSamples is how many samples a source's ring keeps, across its
// series: the newest few of the metrics its rules read, with their origin.
const recentSamples = 8

// recentRing holds the newest samples noted for a source, oldest
// overwritten first. It is per source, not per series: a few dozen bytes
// per sample and a fixed number of them.
type recentRing struct {
	topic string // of every origin: samples come from one raw topic
	next  int
	s     [recentSamples]recentSample
}

type recentSample struct {
	ser       *features.Series // nil: an empty slot
	ts        int64
	v         float64
	offset    int64
	partition int32
}

// NoteSample remembers a sample just applied to ser (a series Set here) and
// the record it came in, so that explanations can list it with its origin
// (a partition below 0 names no record: the sample is listed without).
// Only the newest recentSamples of the source are kept: callers note the
// samples of metrics rules read.
func (s *SourceFeatures) NoteSample(ser *features.Series, tsMilli int64, v float64, origin SampleOrigin) {
	if s.recent == nil {
		s.recent = &recentRing{}
	}
	r := s.recent
	r.topic = origin.Topic
	r.s[r.next] = recentSample{ser: ser, ts: tsMilli, v: v, offset: origin.Offset, partition: origin.Partition}
	r.next = (r.next + 1) % recentSamples
}

// Coverage implements SeriesDetails: the sample count and event-time range
// of a window of a series; window 0 is its newest sample.
func (s *SourceFeatures) Coverage(metric string, tags []Label, window time.Duration) (count, from, to int64, ok bool) {
	ser := s.Get(metric, tags)
	if ser == nil {
		return 0, 0, 0, false
	}
	if window == 0 {
		ts, _, ok := ser.Last()
		return 1, ts, ts, ok
	}
	return ser.Coverage(window)
}

// AppendRecent implements SeriesDetails: the newest n raw samples of the
// series, newest first, from its state, so a source read back from the
// table after an eviction, a restart or a rebalance lists the same ones.
// A sample still in the source's ring of noted samples carries its origin;
// the ring lives in memory only, so samples noted before the source left
// memory are listed without one.
func (s *SourceFeatures) AppendRecent(dst []SampleReading, metric string, tags []Label, n int) []SampleReading {
	ser := s.Get(metric, tags)
	if ser == nil || n <= 0 {
		return dst
	}
	listed := 0
	ser.Newest(n, func(ts int64, v float64) bool {
		sr := SampleReading{Metric: metric, Value: features.Float(v), At: Timestamp(ts)}
		sr.Origin = s.recent.origin(ser, ts, v)
		dst = append(dst, sr)
		listed++
		return true
	})
	if listed == 0 {
		// Every sample went into aggregates: the newest is still known.
		if ts, v, ok := ser.Last(); ok {
			sr := SampleReading{Metric: metric, Value: features.Float(v), At: Timestamp(ts)}
			sr.Origin = s.recent.origin(ser, ts, v)
			dst = append(dst, sr)
		}
	}
	return dst
}

// origin is the record a sample of ser came in, when the ring still holds
// it; nil otherwise (r may be nil).
func (r *recentRing) origin(ser *features.Series, ts int64, v float64) *SampleOrigin {
	if r == nil {
		return nil
	}
	for i := range r.s {
		e := &r.s[(r.next-1-i+2*recentSamples)%recentSamples]
		if e.ser == ser && e.ts == ts && e.partition >= 0 && (e.v == v || (e.v != e.v && v != v)) {
			return &SampleOrigin{Topic: r.topic, Partition: e.partition, Offset: e.offset}
		}
	}
	return nil
}

// forgetRecent drops the noted samples of ser.
func (s *SourceFeatures) forgetRecent(ser *features.Series) {
	if s.recent == nil || ser == nil {
		return
	}
	for i := range s.recent.s {
		if s.recent.s[i].ser == ser {
			s.recent.s[i] = recentSample{}
		}
	}
}

// of returns the series of metric.
func (s *SourceFeatures) of(metric string) []seriesEntry {
	if metric != s.lastMetric || s.last == nil {
		s.lastMetric, s.last = metric, s.byMetric[metric]
	}
	return s.last
}

type seriesEntry struct {
	tags []Label
	ser  *features.Series
}

func (s *SourceFeatures) find(metric string, tags []Label) (int, bool) {
	es := s.of(metric)
	if len(es) == 1 && len(tags) == 0 && len(es[0].tags) == 0 {
		return 0, true
	}
	return slices.BinarySearchFunc(es, tags, func(e seriesEntry, t []Label) int { return CompareLabels(e.tags, t) })
}

// Set makes ser the series of metric with tags (sorted by name; the list
// is kept, not copied).
func (s *SourceFeatures) Set(metric string, tags []Label, ser *features.Series) {
	ser.UseScratch(&s.scratch)
	if s.byMetric == nil {
		s.byMetric = map[string][]seriesEntry{}
	}
	i, ok := s.find(metric, tags)
	if ok {
		s.byMetric[metric][i].ser = ser
		return
	}
	s.byMetric[metric] = slices.Insert(s.byMetric[metric], i, seriesEntry{tags: tags, ser: ser})
	s.last = nil
}

// Delete forgets the series of metric with tags.
func (s *SourceFeatures) Delete(metric string, tags []Label) {
	if i, ok := s.find(metric, tags); ok {
		s.forgetRecent(s.of(metric)[i].ser)
		s.last = nil
		s.byMetric[metric] = slices.Delete(s.byMetric[metric], i, i+1)
		if len(s.byMetric[metric]) == 0 {
			delete(s.byMetric, metric)
		}
	}
}

// Get returns the series of metric with tags, or nil.
func (s *SourceFeatures) Get(metric string, tags []Label) *features.Series {
	if i, ok := s.find(metric, tags); ok {
		return s.last[i].ser
	}
	return nil
}

// TagsOf returns the tags under which ser is a series of metric.
func (s *SourceFeatures) TagsOf(metric string, ser *features.Series) ([]Label, bool) {
	for _, e := range s.of(metric) {
		if e.ser == ser {
			return e.tags, true
		}
	}
	return nil, false
}

// SeriesCount is the number of series of metric.
func (s *SourceFeatures) SeriesCount(metric string) int { return len(s.of(metric)) }

// SeriesTags are the tags of the i-th series of metric, in tag order.
func (s *SourceFeatures) SeriesTags(metric string, i int) []Label { return s.of(metric)[i].tags }

// Stat reads a stat of a series; last with window 0 is the newest sample.
// Windows end at the series' newest event time, so windowed stats do not
// change while a series is silent: only seconds_since_last does.
func (s *SourceFeatures) Stat(metric string, tags []Label, stat string, window time.Duration, nowMilli int64) (float64, bool) {
	ser := s.Get(metric, tags)
	if ser == nil {
		return 0, false
	}
	if stat == features.StatLast && window == 0 {
		_, v, ok := ser.Last()
		return v, ok
	}
	return ser.Stat(stat, window, nowMilli)
}

// SecondsSinceLast is the age of the newest sample of a series, or of the
// newest sample of any series of the source when metric is "".
func (s *SourceFeatures) SecondsSinceLast(metric string, tags []Label, nowMilli int64) (float64, bool) {
	if metric != "" {
		ser := s.Get(metric, tags)
		if ser == nil {
			return 0, false
		}
		if _, _, ok := ser.Last(); !ok {
			return 0, false
		}
		return ser.SecondsSinceLast(nowMilli), true
	}
	age, ok := math.Inf(1), false
	for _, es := range s.byMetric {
		for _, e := range es {
			if _, _, has := e.ser.Last(); has {
				age, ok = min(age, e.ser.SecondsSinceLast(nowMilli)), true
			}
		}
	}
	return age, ok
}
