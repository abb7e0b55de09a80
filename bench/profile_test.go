package bench

import (
	"bytes"
	"compress/gzip"
	"maps"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// synthetic builds a CPU profile the way runtime/pprof lays it out: two
// sample types (samples/count, cpu/nanoseconds), the samples, then the
// string table. A sample is its CPU time and its labels (key, value
// pairs; a numeric label is a key with an empty value).
type synthetic struct {
	strings []string
	index   map[string]int64
	body    []byte
}

func newSynthetic() *synthetic {
	s := &synthetic{index: map[string]int64{}}
	s.id("")
	s.valueType("samples", "count")
	s.valueType("cpu", "nanoseconds")
	return s
}

func (s *synthetic) id(str string) int64 {
	if i, ok := s.index[str]; ok {
		return i
	}
	s.index[str] = int64(len(s.strings))
	s.strings = append(s.strings, str)
	return s.index[str]
}

func (s *synthetic) valueType(typ, unit string) {
	var vt []byte
	vt = protowire.AppendTag(vt, valueTypeType, protowire.VarintType)
	vt = protowire.AppendVarint(vt, uint64(s.id(typ)))
	vt = protowire.AppendTag(vt, valueTypeUnit, protowire.VarintType)
	vt = protowire.AppendVarint(vt, uint64(s.id(unit)))
	s.body = protowire.AppendTag(s.body, profileSampleType, protowire.BytesType)
	s.body = protowire.AppendBytes(s.body, vt)
}

// sample adds a sample of cpu; packed says whether its values are packed
// (runtime/pprof's way) or one field each.
func (s *synthetic) sample(cpu time.Duration, packed bool, labels ...string) {
	var sm []byte
	sm = protowire.AppendTag(sm, 1, protowire.BytesType) // a location id
	sm = protowire.AppendBytes(sm, protowire.AppendVarint(nil, 7))
	values := []uint64{uint64(cpu / (10 * time.Millisecond)), uint64(cpu)}
	if packed {
		var vs []byte
		for _, v := range values {
			vs = protowire.AppendVarint(vs, v)
		}
		sm = protowire.AppendTag(sm, sampleValue, protowire.BytesType)
		sm = protowire.AppendBytes(sm, vs)
	} else {
		for _, v := range values {
			sm = protowire.AppendTag(sm, sampleValue, protowire.VarintType)
			sm = protowire.AppendVarint(sm, v)
		}
	}
	for i := 0; i < len(labels); i += 2 {
		var l []byte
		l = protowire.AppendTag(l, labelKey, protowire.VarintType)
		l = protowire.AppendVarint(l, uint64(s.id(labels[i])))
		if labels[i+1] != "" {
			l = protowire.AppendTag(l, labelStr, protowire.VarintType)
			l = protowire.AppendVarint(l, uint64(s.id(labels[i+1])))
		} else {
			l = protowire.AppendTag(l, 3, protowire.VarintType) // num
			l = protowire.AppendVarint(l, 42)
		}
		sm = protowire.AppendTag(sm, sampleLabel, protowire.BytesType)
		sm = protowire.AppendBytes(sm, l)
	}
	s.body = protowire.AppendTag(s.body, profileSample, protowire.BytesType)
	s.body = protowire.AppendBytes(s.body, sm)
}

// bytes ends the profile with a field StageCPU does not read, then the
// string table, and gzips it.
func (s *synthetic) bytes(t *testing.T) []byte {
	b := protowire.AppendTag(s.body, 12, protowire.VarintType) // period
	b = protowire.AppendVarint(b, 10_000_000)
	for _, str := range s.strings {
		b = protowire.AppendTag(b, profileStringTable, protowire.BytesType)
		b = protowire.AppendString(b, str)
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return z.Bytes()
}

// StageCPU adds up the CPU time of the samples by the label's value:
// samples without it (or with only other labels, or a numeric label of
// that key) are Unlabelled; the count column is not mistaken for time.
func TestStageCPU(t *testing.T) {
	ms := time.Millisecond
	p := newSynthetic()
	p.sample(30*ms, true, "stage", "ingest")
	p.sample(10*ms, false, "stage", "ingest")
	p.sample(50*ms, true, "other", "x", "stage", "features")
	p.sample(20*ms, true)
	p.sample(40*ms, true, "other", "features")
	p.sample(70*ms, true, "stage", "")
	p.sample(60*ms, true, "stage", "sink")
	got, err := StageCPU(p.bytes(t), "stage")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Duration{"ingest": 40 * ms, "features": 50 * ms, "sink": 60 * ms, Unlabelled: 130 * ms}
	if !maps.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// A profile without a cpu/nanoseconds sample type (a heap profile) or
// that is not a profile at all is refused.
func TestStageCPURefuses(t *testing.T) {
	heap := &synthetic{index: map[string]int64{}}
	heap.id("")
	heap.valueType("alloc_objects", "count")
	heap.sample(time.Millisecond, true, "stage", "ingest")
	if _, err := StageCPU(heap.bytes(t), "stage"); err == nil {
		t.Error("a heap profile was read as a CPU profile")
	}
	if _, err := StageCPU([]byte{0x1f, 0x8b, 1, 2}, "stage"); err == nil {
		t.Error("a broken gzip stream was read")
	}
	if _, err := StageCPU([]byte{0x0a, 0xff}, "stage"); err == nil {
		t.Error("a truncated message was read")
	}
}
