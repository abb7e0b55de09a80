package tables

import (
	"fmt"
	"sort"
)

// Tag is one label of a sample or a source. Tags travel sorted by key.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Tags is a key-sorted list of tags.
type Tags []Tag

// Map returns the tags as a map (for JSON and templates).
func (t Tags) Map() map[string]string {
	m := make(map[string]string, len(t))
	for _, tag := range t {
		m[tag.Key] = tag.Value
	}
	return m
}

// TagsFromMap builds sorted tags from a map.
func TagsFromMap(m map[string]string) Tags {
	if len(m) == 0 {
		return nil
	}
	t := make(Tags, 0, len(m))
	for k, v := range m {
		t = append(t, Tag{Key: k, Value: v})
	}
	sort.Slice(t, func(i, j int) bool { return t[i].Key < t[j].Key })
	return t
}

// Sample is one normalized metric point.
type Sample struct {
	Metric  string
	Unit    string
	Value   float64
	TsMicro int64 // event time, Unix microseconds
	Tags    Tags
}

// Origin says where a record was first read: the raw topic's partition and
// offset, or the HTTP ingest (Partition -1).
type Origin struct {
	Partition int32
	Offset    int64
}

// Signal is the value of signals.metric.v1: the normalized, enriched samples
// of one source that arrived in one raw record.
type Signal struct {
	Tenant string
	Host   string
	Origin Origin
	// IngestMicro is when the raw record reached the broker (its timestamp),
	// so that stages can measure end-to-end latency.
	IngestMicro int64
	// Meta is the source's metadata at enrichment time, nil if it has none.
	Meta    *SourceMeta
	Samples []Sample
}

// Key returns the signal's source key.
func (s *Signal) Key() string { return SourceKey(s.Tenant, s.Host) }

const signalVersion = 1

// AppendBinary encodes the signal after dst.
func (s *Signal) AppendBinary(dst []byte) []byte {
	b := append(dst, signalVersion)
	b = appendString(b, s.Tenant)
	b = appendString(b, s.Host)
	b = appendVarint(b, int64(s.Origin.Partition))
	b = appendVarint(b, s.Origin.Offset)
	b = appendVarint(b, s.IngestMicro)
	b = appendOptionalMeta(b, s.Meta)
	b = appendUvarint(b, uint64(len(s.Samples)))
	for i := range s.Samples {
		sm := &s.Samples[i]
		b = appendString(b, sm.Metric)
		b = appendString(b, sm.Unit)
		b = appendFloat(b, sm.Value)
		b = appendVarint(b, sm.TsMicro)
		b = appendTags(b, sm.Tags)
	}
	return b
}

// DecodeSignal decodes a signal encoded by AppendBinary.
func DecodeSignal(data []byte) (*Signal, error) { return decodeSignal(&reader{b: data}) }

// Decode decodes a signal, sharing its strings through the interner.
func (in *Interner) Decode(data []byte) (*Signal, error) {
	return decodeSignal(&reader{b: data, intern: in})
}

func decodeSignal(r *reader) (*Signal, error) {
	if v := r.byte("version"); r.err == nil && v != signalVersion {
		return nil, fmt.Errorf("%w: signal version %d", ErrCorrupt, v)
	}
	s := &Signal{
		Tenant: r.string("tenant"),
		Host:   r.string("host"),
	}
	s.Origin.Partition = int32(r.varint("origin partition"))
	s.Origin.Offset = r.varint("origin offset")
	s.IngestMicro = r.varint("ingest time")
	s.Meta = r.optionalMeta()
	n := r.count("samples", 12)
	if n > 0 {
		s.Samples = make([]Sample, n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		sm := &s.Samples[i]
		sm.Metric = r.string("metric")
		sm.Unit = r.string("unit")
		sm.Value = r.float("value")
		sm.TsMicro = r.varint("ts")
		sm.Tags = r.tags()
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("trailing bytes")
	}
	if r.err != nil {
		return nil, r.err
	}
	return s, nil
}

func appendTags(b []byte, t Tags) []byte {
	b = appendUvarint(b, uint64(len(t)))
	for _, tag := range t {
		b = appendString(b, tag.Key)
		b = appendString(b, tag.Value)
	}
	return b
}

func (r *reader) tags() Tags {
	n := r.count("tags", 2)
	if n == 0 {
		return nil
	}
	t := make(Tags, n)
	for i := 0; i < n && r.err == nil; i++ {
		t[i] = Tag{Key: r.string("tag key"), Value: r.string("tag value")}
	}
	return t
}
