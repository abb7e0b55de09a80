package promrw

import (
	"fmt"
	"math"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"

	"github.com/eventops/eventops/normalize"
	"github.com/eventops/eventops/tables"
)

// What Decoded.Dropped counts.
const (
	DroppedStaleMarkers = "stale_markers"
	DroppedExemplars    = "exemplars"
	DroppedMetadata     = "metadata"
)

// Version of the remote-write protocol.
type Version int

// Versions.
const (
	V1 Version = 1 // prometheus.WriteRequest
	V2 Version = 2 // io.prometheus.write.v2.Request
)

// Options of a decoding.
type Options struct {
	// Tenant of every sample.
	Tenant string
	// MaxDecoded bounds the body once decompressed (default 8 MiB).
	MaxDecoded int
}

// Counts are the samples a request held, by kind.
type Counts struct {
	Samples, Histograms, Exemplars int
}

// Decode decompresses (snappy, block format) and decodes a remote-write
// body of version v and maps its samples to points. The error (the whole
// body refused) has reason invalid_snappy, too_large or invalid_protobuf.
func Decode(body []byte, v Version, o Options) (normalize.Decoded, Counts, *normalize.Error) {
	if o.MaxDecoded <= 0 {
		o.MaxDecoded = 8 << 20
	}
	n, err := snappy.DecodedLen(body)
	if err != nil {
		return normalize.Decoded{}, Counts{}, whole(normalize.ReasonInvalidSnappy, "the body is not snappy-compressed (block format): %v", err)
	}
	if n > o.MaxDecoded {
		return normalize.Decoded{}, Counts{}, whole(normalize.ReasonTooLarge, "the body is %d bytes decompressed, more than the limit of %d", n, o.MaxDecoded)
	}
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		return normalize.Decoded{}, Counts{}, whole(normalize.ReasonInvalidSnappy, "the body is not snappy-compressed (block format): %v", err)
	}
	if v == V2 {
		var req writev2.Request
		if err := req.Unmarshal(raw); err != nil {
			return normalize.Decoded{}, Counts{}, whole(normalize.ReasonInvalidProtobuf, "not a remote-write 2.0 request (io.prometheus.write.v2.Request): %v", err)
		}
		return decodeV2(&req, o)
	}
	var req prompb.WriteRequest
	if err := req.Unmarshal(raw); err != nil {
		return normalize.Decoded{}, Counts{}, whole(normalize.ReasonInvalidProtobuf, "not a remote-write 1.0 request (prometheus.WriteRequest): %v", err)
	}
	d, c := DecodeV1(&req, o)
	return d, c, nil
}

func whole(reason normalize.Reason, format string, args ...any) *normalize.Error {
	return &normalize.Error{Reason: reason, Index: -1, Msg: fmt.Sprintf(format, args...)}
}

// series is one series' identity as points carry it.
type series struct {
	o       Options
	tags    tables.Tags
	metric  string
	host    string
	unit    string
	problem string // why the series' samples are refused
}

// newSeries sorts a series' labels into metric, host and tags.
func newSeries(o Options, n int, label func(i int) (string, string)) series {
	s := series{o: o, tags: make(tables.Tags, 0, n)}
	var instance, host, job string
	for i := range n {
		k, v := label(i)
		switch k {
		case "__name__":
			s.metric = v
			continue
		case "instance":
			instance = v
		case "host":
			host = v
		case "job":
			job = v
		}
		s.tags = append(s.tags, tables.Tag{Key: k, Value: v})
	}
	drop := ""
	switch {
	case instance != "":
		s.host, drop = instance, "instance"
	case host != "":
		s.host, drop = host, "host"
	case job != "":
		s.host = job
	default:
		s.problem = "the series has no label instance, host or job to name its host"
	}
	if drop != "" {
		for i, t := range s.tags {
			if t.Key == drop {
				s.tags = append(s.tags[:i], s.tags[i+1:]...)
				break
			}
		}
	}
	if s.metric == "" {
		s.problem = "the series has no __name__ label"
	}
	return s
}

// add maps one sample of the series.
func (s *series) add(d *normalize.Decoded, name string, v float64, ms int64, unit string, index int) {
	p := normalize.Point{Tenant: s.o.Tenant, Host: s.host, Metric: name, Unit: unit, Value: v, TimeNano: nanos(ms), Index: index, Tags: s.tags}
	switch {
	case s.problem != "":
		d.Refuse(p, normalize.ReasonMissingField, "%s", s.problem)
	case p.Tenant == "":
		d.Refuse(p, normalize.ReasonMissingField, "no tenant: send a tenant's API key, or X-Scope-OrgID with an admin key or open access")
	default:
		d.Points = append(d.Points, p)
	}
}

// nanos is a millisecond timestamp in nanoseconds. One beyond what
// nanoseconds hold (before 1677, after 2262) becomes the nearest they hold,
// which Check refuses as too old or too far ahead, instead of wrapping
// around onto another time; the epoch itself is 1 ns, not 0 (no time),
// so that it is refused as too old rather than taking the receive time.
func nanos(ms int64) int64 {
	switch {
	case ms > math.MaxInt64/int64(time.Millisecond):
		return math.MaxInt64
	case ms < math.MinInt64/int64(time.Millisecond):
		return math.MinInt64
	case ms == 0:
		return 1
	}
	return ms * int64(time.Millisecond)
}

// DecodeV1 maps a remote-write 1.0 request.
func DecodeV1(req *prompb.WriteRequest, o Options) (normalize.Decoded, Counts) {
	var d normalize.Decoded
	var c Counts
	for i := range req.Timeseries {
		c.Samples += len(req.Timeseries[i].Samples)
		c.Histograms += len(req.Timeseries[i].Histograms)
	}
	d.Points = make([]normalize.Point, 0, c.Samples+2*c.Histograms)
	d.Drop(DroppedMetadata, len(req.Metadata))
	fi, hi := 0, c.Samples
	for i := range req.Timeseries {
		ts := &req.Timeseries[i]
		s := newSeries(o, len(ts.Labels), func(i int) (string, string) { return ts.Labels[i].Name, ts.Labels[i].Value })
		c.Exemplars += len(ts.Exemplars)
		d.Drop(DroppedExemplars, len(ts.Exemplars))
		for _, smp := range ts.Samples {
			if value.IsStaleNaN(smp.Value) {
				d.Drop(DroppedStaleMarkers, 1)
			} else {
				s.add(&d, s.metric, smp.Value, smp.Timestamp, "", fi)
			}
			fi++
		}
		for j := range ts.Histograms {
			h := &ts.Histograms[j]
			count := float64(h.GetCountInt())
			if h.IsFloatHistogram() {
				count = h.GetCountFloat()
			}
			if value.IsStaleNaN(h.Sum) {
				d.Drop(DroppedStaleMarkers, 1)
			} else {
				s.add(&d, s.metric+"_count", count, h.Timestamp, "", hi)
				s.add(&d, s.metric+"_sum", h.Sum, h.Timestamp, "", hi)
			}
			hi++
		}
	}
	return d, c
}

func decodeV2(req *writev2.Request, o Options) (normalize.Decoded, Counts, *normalize.Error) {
	var d normalize.Decoded
	var c Counts
	syms := req.Symbols
	for i := range req.Timeseries {
		ts := &req.Timeseries[i]
		if len(ts.LabelsRefs)%2 != 0 {
			return normalize.Decoded{}, Counts{}, whole(normalize.ReasonInvalidProtobuf, "series %d has an odd number of label references", i)
		}
		for _, r := range ts.LabelsRefs {
			if int(r) >= len(syms) {
				return normalize.Decoded{}, Counts{}, whole(normalize.ReasonInvalidProtobuf, "series %d refers to symbol %d of %d", i, r, len(syms))
			}
		}
		if int(ts.Metadata.UnitRef) >= len(syms) || int(ts.Metadata.HelpRef) >= len(syms) {
			return normalize.Decoded{}, Counts{}, whole(normalize.ReasonInvalidProtobuf, "series %d's metadata refers to a symbol beyond %d", i, len(syms))
		}
		c.Samples += len(ts.Samples)
		c.Histograms += len(ts.Histograms)
	}
	d.Points = make([]normalize.Point, 0, c.Samples+2*c.Histograms)
	fi, hi := 0, c.Samples
	for i := range req.Timeseries {
		ts := &req.Timeseries[i]
		refs := ts.LabelsRefs
		s := newSeries(o, len(refs)/2, func(i int) (string, string) { return syms[refs[2*i]], syms[refs[2*i+1]] })
		unit := syms[ts.Metadata.UnitRef]
		if syms[ts.Metadata.HelpRef] != "" {
			d.Drop(DroppedMetadata, 1)
		}
		c.Exemplars += len(ts.Exemplars)
		d.Drop(DroppedExemplars, len(ts.Exemplars))
		for _, smp := range ts.Samples {
			if value.IsStaleNaN(smp.Value) {
				d.Drop(DroppedStaleMarkers, 1)
			} else {
				s.add(&d, s.metric, smp.Value, smp.Timestamp, unit, fi)
			}
			fi++
		}
		for j := range ts.Histograms {
			h := &ts.Histograms[j]
			count := float64(h.GetCountInt())
			if h.IsFloatHistogram() {
				count = h.GetCountFloat()
			}
			if value.IsStaleNaN(h.Sum) {
				d.Drop(DroppedStaleMarkers, 1)
			} else {
				s.add(&d, s.metric+"_count", count, h.Timestamp, "", hi)
				s.add(&d, s.metric+"_sum", h.Sum, h.Timestamp, unit, hi)
			}
			hi++
		}
	}
	return d, c, nil
}
