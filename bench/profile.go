package bench

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// Unlabelled is the key StageCPU gives the time of samples without the
// label: the runtime's own goroutines (the garbage collector's background
// workers), and goroutines started outside any stage.
const Unlabelled = "unlabelled"

// StageCPU reads a CPU profile (runtime/pprof's gzipped protobuf) and adds
// up its CPU time by the value of the profiler label key.
func StageCPU(profile []byte, key string) (map[string]time.Duration, error) {
	p, err := parseProfile(profile)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return p.foldBy(key)
}

// profile is what StageCPU needs of a profile: the samples' values and
// labels (as indexes into strings), and the sample types.
type profile struct {
	types   []valueType
	samples []sample
	strings []string
}

type valueType struct{ typ, unit int64 }

type sample struct {
	values []int64
	labels []label // string labels only; numeric ones are skipped
}

type label struct{ key, str int64 }

// foldBy adds up the CPU time (the "cpu" value in nanoseconds) of the
// samples by the value of their label key.
func (p *profile) foldBy(key string) (map[string]time.Duration, error) {
	at := -1
	for i, t := range p.types {
		if p.str(t.typ) == "cpu" && p.str(t.unit) == "nanoseconds" {
			at = i
		}
	}
	if at < 0 {
		return nil, errors.New("no cpu/nanoseconds sample type: not a CPU profile")
	}
	out := map[string]time.Duration{}
	for _, s := range p.samples {
		if at >= len(s.values) {
			return nil, fmt.Errorf("a sample has %d values, want %d", len(s.values), len(p.types))
		}
		v := Unlabelled
		for _, l := range s.labels {
			if p.str(l.key) == key {
				v = p.str(l.str)
			}
		}
		out[v] += time.Duration(s.values[at])
	}
	return out, nil
}

func (p *profile) str(i int64) string {
	if i < 0 || i >= int64(len(p.strings)) {
		return ""
	}
	return p.strings[i]
}

// The field numbers of profile.proto that StageCPU reads.
const (
	profileSampleType  = 1
	profileSample      = 2
	profileStringTable = 6
	valueTypeType      = 1
	valueTypeUnit      = 2
	sampleValue        = 2
	sampleLabel        = 3
	labelKey           = 1
	labelStr           = 2
)

// parseProfile decodes a profile, gzipped or not.
func parseProfile(b []byte) (*profile, error) {
	if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		if b, err = io.ReadAll(zr); err != nil {
			return nil, err
		}
	}
	p := &profile{}
	err := fields(b, func(num protowire.Number, typ protowire.Type, v uint64, body []byte) error {
		switch {
		case num == profileSampleType && typ == protowire.BytesType:
			var t valueType
			err := varints(body, map[protowire.Number]*int64{valueTypeType: &t.typ, valueTypeUnit: &t.unit})
			p.types = append(p.types, t)
			return err
		case num == profileSample && typ == protowire.BytesType:
			s, err := parseSample(body)
			p.samples = append(p.samples, s)
			return err
		case num == profileStringTable && typ == protowire.BytesType:
			p.strings = append(p.strings, string(body))
		}
		return nil
	})
	return p, err
}

func parseSample(b []byte) (sample, error) {
	var s sample
	err := fields(b, func(num protowire.Number, typ protowire.Type, v uint64, body []byte) error {
		switch {
		case num == sampleValue && typ == protowire.VarintType:
			s.values = append(s.values, int64(v))
		case num == sampleValue && typ == protowire.BytesType: // packed
			for len(body) > 0 {
				x, n := protowire.ConsumeVarint(body)
				if n < 0 {
					return protowire.ParseError(n)
				}
				s.values, body = append(s.values, int64(x)), body[n:]
			}
		case num == sampleLabel && typ == protowire.BytesType:
			var l label
			if err := varints(body, map[protowire.Number]*int64{labelKey: &l.key, labelStr: &l.str}); err != nil {
				return err
			}
			if l.str != 0 {
				s.labels = append(s.labels, l)
			}
		}
		return nil
	})
	return s, err
}

// varints sets the varint fields of a message named in into.
func varints(b []byte, into map[protowire.Number]*int64) error {
	return fields(b, func(num protowire.Number, typ protowire.Type, v uint64, _ []byte) error {
		if dst, ok := into[num]; ok && typ == protowire.VarintType {
			*dst = int64(v)
		}
		return nil
	})
}

// fields calls f with each field of a protobuf message: its number, wire
// type, and its value (varints and fixed-width numbers) or body
// (length-delimited fields).
func fields(b []byte, f func(num protowire.Number, typ protowire.Type, v uint64, body []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var v uint64
		var body []byte
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			v, n = protowire.ConsumeFixed64(b)
		case protowire.Fixed32Type:
			var x uint32
			x, n = protowire.ConsumeFixed32(b)
			v = uint64(x)
		case protowire.BytesType:
			body, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if err := f(num, typ, v, body); err != nil {
			return err
		}
	}
	return nil
}
