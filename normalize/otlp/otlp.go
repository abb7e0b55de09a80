package otlp

import (
	"fmt"
	"strconv"

	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/eventops/eventops/normalize"
	"github.com/eventops/eventops/tables"
)

// What Decoded.Dropped counts.
const (
	DroppedExemplars       = "exemplars"
	DroppedNoValue         = "no_recorded_value"
	DroppedHistogramBucket = "histogram_buckets"
)

// Resource attributes the mapping reads.
const (
	AttrTenant            = "tenant_id"
	AttrHostName          = "host.name"
	AttrServiceInstanceID = "service.instance.id"
	AttrServiceName       = "service.name"
	AttrServiceNamespace  = "service.namespace"
)

// Options of a decoding.
type Options struct {
	// Tenant of the resources that name none (attribute tenant_id).
	Tenant string
}

// Format is how an OTLP body is encoded.
type Format int

// Formats.
const (
	Protobuf Format = iota
	JSON
)

// Unmarshal decodes an OTLP metrics body (an ExportMetricsServiceRequest,
// or a MetricsData: the two share their encoding). The error's reason is
// invalid_protobuf or invalid_json.
func Unmarshal(body []byte, f Format) (pmetric.Metrics, *normalize.Error) {
	if f == JSON {
		u := pmetric.JSONUnmarshaler{}
		md, err := u.UnmarshalMetrics(body)
		if err != nil {
			return pmetric.Metrics{}, &normalize.Error{Reason: normalize.ReasonInvalidJSON, Index: -1,
				Msg: fmt.Sprintf("not OTLP/JSON metrics: %v", err)}
		}
		return md, nil
	}
	u := pmetric.ProtoUnmarshaler{}
	md, err := u.UnmarshalMetrics(body)
	if err != nil {
		return pmetric.Metrics{}, &normalize.Error{Reason: normalize.ReasonInvalidProtobuf, Index: -1,
			Msg: fmt.Sprintf("not OTLP/protobuf metrics: %v", err)}
	}
	return md, nil
}

// Decode maps every data point of md to points (see the package doc).
func Decode(md pmetric.Metrics, o Options) normalize.Decoded {
	d := decoder{o: o, namer: otlptranslator.MetricNamer{WithMetricSuffixes: true},
		labels: map[string]string{}}
	rms := md.ResourceMetrics()
	for i := range rms.Len() {
		d.resource(rms.At(i))
	}
	return d.out
}

type decoder struct {
	o      Options
	namer  otlptranslator.MetricNamer
	labels map[string]string // attribute key → label name, per decoding
	out    normalize.Decoded
	index  int

	// Of the resource being read.
	tenant, host, job string
	hostErr           string
}

func (d *decoder) resource(rm pmetric.ResourceMetrics) {
	attrs := rm.Resource().Attributes()
	str := func(k string) string {
		if v, ok := attrs.Get(k); ok {
			return v.AsString()
		}
		return ""
	}
	d.tenant = str(AttrTenant)
	if d.tenant == "" {
		d.tenant = d.o.Tenant
	}
	d.host, d.hostErr = str(AttrHostName), ""
	if d.host == "" {
		d.host = str(AttrServiceInstanceID)
	}
	service := str(AttrServiceName)
	if d.host == "" {
		d.host = service
	}
	if d.host == "" {
		d.hostErr = "the resource has none of host.name, service.instance.id and service.name, one of which names the host"
	}
	d.job = service
	if ns := str(AttrServiceNamespace); ns != "" && service != "" {
		d.job = ns + "/" + service
	}
	sms := rm.ScopeMetrics()
	for i := range sms.Len() {
		ms := sms.At(i).Metrics()
		for j := range ms.Len() {
			d.metric(ms.At(j))
		}
	}
}

func (d *decoder) metric(m pmetric.Metric) {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		name := d.name(m, otlptranslator.MetricTypeGauge)
		dps := m.Gauge().DataPoints()
		for i := range dps.Len() {
			d.number(name, m.Unit(), dps.At(i))
		}
	case pmetric.MetricTypeSum:
		s := m.Sum()
		typ := otlptranslator.MetricType(otlptranslator.MetricTypeNonMonotonicCounter)
		if s.IsMonotonic() {
			typ = otlptranslator.MetricTypeMonotonicCounter
		}
		name := d.name(m, typ)
		dps := s.DataPoints()
		if s.AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
			d.unsupported(name, dps.Len(), s.AggregationTemporality())
			return
		}
		for i := range dps.Len() {
			d.number(name, m.Unit(), dps.At(i))
		}
	case pmetric.MetricTypeHistogram:
		h := m.Histogram()
		name := d.name(m, otlptranslator.MetricTypeHistogram)
		dps := h.DataPoints()
		if h.AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
			d.unsupported(name, dps.Len(), h.AggregationTemporality())
			return
		}
		for i := range dps.Len() {
			dp := dps.At(i)
			d.out.Drop(DroppedHistogramBucket, dp.BucketCounts().Len())
			d.countSum(name, m.Unit(), dp.Attributes(), dp.Timestamp(), dp.Flags(), dp.Exemplars().Len(),
				float64(dp.Count()), dp.HasSum(), dp.Sum())
			d.index++
		}
	case pmetric.MetricTypeExponentialHistogram:
		h := m.ExponentialHistogram()
		name := d.name(m, otlptranslator.MetricTypeExponentialHistogram)
		dps := h.DataPoints()
		if h.AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
			d.unsupported(name, dps.Len(), h.AggregationTemporality())
			return
		}
		for i := range dps.Len() {
			dp := dps.At(i)
			d.out.Drop(DroppedHistogramBucket, dp.Positive().BucketCounts().Len()+dp.Negative().BucketCounts().Len())
			d.countSum(name, m.Unit(), dp.Attributes(), dp.Timestamp(), dp.Flags(), dp.Exemplars().Len(),
				float64(dp.Count()), dp.HasSum(), dp.Sum())
			d.index++
		}
	case pmetric.MetricTypeSummary:
		name := d.name(m, otlptranslator.MetricTypeSummary)
		dps := m.Summary().DataPoints()
		for i := range dps.Len() {
			dp := dps.At(i)
			if d.countSum(name, m.Unit(), dp.Attributes(), dp.Timestamp(), dp.Flags(), 0, float64(dp.Count()), true, dp.Sum()) {
				qs := dp.QuantileValues()
				for i := range qs.Len() {
					q := qs.At(i)
					p := d.point(name, m.Unit(), dp.Attributes(), dp.Timestamp())
					p.Tags = append(p.Tags, tables.Tag{Key: "quantile", Value: strconv.FormatFloat(q.Quantile(), 'g', -1, 64)})
					p.Value = q.Value()
					d.add(p)
				}
			}
			d.index++
		}
	default:
		p := d.point(m.Name(), m.Unit(), pcommon.NewMap(), 0)
		d.index++
		d.out.Refuse(p, normalize.ReasonUnsupportedType, "metric %q has no data of a known type", m.Name())
	}
}

// name is the metric's Prometheus name; one the translator cannot make
// is kept as sent, for Check to refuse.
func (d *decoder) name(m pmetric.Metric, typ otlptranslator.MetricType) string {
	n, err := d.namer.Build(otlptranslator.Metric{Name: m.Name(), Unit: m.Unit(), Type: typ})
	if err != nil || n == "" {
		return m.Name()
	}
	return n
}

func (d *decoder) unsupported(name string, points int, t pmetric.AggregationTemporality) {
	for range points {
		p := d.point(name, "", pcommon.NewMap(), 0)
		d.index++
		d.out.Refuse(p, normalize.ReasonUnsupportedType,
			"metric %q has %s temporality: EventOps keeps cumulative sums and histograms (set the exporter's temporality to cumulative)", name, t)
	}
}

func (d *decoder) number(name, unit string, dp pmetric.NumberDataPoint) {
	defer func() { d.index++ }()
	d.out.Drop(DroppedExemplars, dp.Exemplars().Len())
	if dp.Flags().NoRecordedValue() {
		d.out.Drop(DroppedNoValue, 1)
		return
	}
	p := d.point(name, unit, dp.Attributes(), dp.Timestamp())
	switch dp.ValueType() {
	case pmetric.NumberDataPointValueTypeDouble:
		p.Value = dp.DoubleValue()
	case pmetric.NumberDataPointValueTypeInt:
		p.Value = float64(dp.IntValue())
	default:
		d.out.Refuse(p, normalize.ReasonMissingField, "data point of metric %q has no value", name)
		return
	}
	d.add(p)
}

// countSum maps the count and sum of one histogram or summary data point
// to NAME_count and NAME_sum; false when the point has no recorded value.
func (d *decoder) countSum(name, unit string, attrs pcommon.Map, ts pcommon.Timestamp, flags pmetric.DataPointFlags, exemplars int,
	count float64, hasSum bool, sum float64) bool {
	d.out.Drop(DroppedExemplars, exemplars)
	if flags.NoRecordedValue() {
		d.out.Drop(DroppedNoValue, 1)
		return false
	}
	p := d.point(name+"_count", "", attrs, ts)
	p.Value = count
	d.add(p)
	if hasSum {
		p := d.point(name+"_sum", unit, attrs, ts)
		p.Value = sum
		d.add(p)
	}
	return true
}

// point is a point of the current resource with the attributes as tags.
func (d *decoder) point(name, unit string, attrs pcommon.Map, ts pcommon.Timestamp) normalize.Point {
	p := normalize.Point{Tenant: d.tenant, Host: d.host, Metric: name, Unit: d.unit(unit), TimeNano: int64(ts), Index: d.index}
	n := attrs.Len()
	if d.job != "" {
		n++
	}
	if n > 0 {
		p.Tags = make(tables.Tags, 0, n+1)
	}
	if d.job != "" {
		p.Tags = append(p.Tags, tables.Tag{Key: "job", Value: d.job})
	}
	for k, v := range attrs.All() {
		p.Tags = append(p.Tags, tables.Tag{Key: d.label(k), Value: v.AsString()})
	}
	return p
}

// unit is the unit word the metric name's suffix was made of (s → seconds).
func (d *decoder) unit(u string) string {
	if u == "" || u == "1" {
		return ""
	}
	un := otlptranslator.UnitNamer{}
	return un.Build(u)
}

// label is the Prometheus label name of an attribute key.
func (d *decoder) label(k string) string {
	if l, ok := d.labels[k]; ok {
		return l
	}
	ln := otlptranslator.LabelNamer{}
	l, err := ln.Build(k)
	if err != nil {
		l = k
	}
	if len(d.labels) < 1024 {
		d.labels[k] = l
	}
	return l
}

// add hands a point on, or refuses it when its resource names no tenant
// or host.
func (d *decoder) add(p normalize.Point) {
	switch {
	case p.Tenant == "":
		d.out.Refuse(p, normalize.ReasonMissingField,
			"no tenant: send a tenant's API key, or X-Scope-OrgID with an admin key or open access (on Kafka, the record header X-Scope-OrgID), or set the resource attribute tenant_id")
	case d.hostErr != "":
		d.out.Refuse(p, normalize.ReasonMissingField, "%s", d.hostErr)
	default:
		d.out.Points = append(d.out.Points, p)
	}
}
