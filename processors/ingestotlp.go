package processors

import (
	"bytes"
	"fmt"
	"time"

	"github.com/lovoo/goka"

	"github.com/eventops/eventops/normalize"
	"github.com/eventops/eventops/normalize/otlp"
	"github.com/eventops/eventops/tables"
)

// HeaderOrgID on an OTLP record names the tenant of the resources that name
// none (resource attribute tenant_id), as the header of that name does over
// HTTP; the Collector's Kafka exporter forwards it with
// include_metadata_keys.
const HeaderOrgID = "X-Scope-OrgID"

// processOTLP judges one record of ingest.otlp.v1, an OTLP
// ExportMetricsServiceRequest (otlp_proto, the encoding the Collector's
// Kafka exporter writes by default, or otlp_json), like a raw record: its
// data points are mapped as over HTTP (normalize/otlp) and judged against
// the record's time, and become the same signals. Its signals name no raw
// partition (Origin.Partition -1): the features stage recognises a record
// read again by its samples, one by one, as it does for HTTP ingest.
func (in *Ingest) processOTLP(ctx goka.Context, msg any) {
	value, _, off, acks := in.take(ctx, msg, &in.otlpParts)
	recordTime := ctx.Timestamp()
	res := in.judgeOTLP(value, string(ctx.Headers()[HeaderOrgID]), recordTime)
	in.emit(ctx, res, value, tables.Origin{Partition: -1, Offset: off}, recordTime, acks)
}

// judgeOTLP refuses a record whole as Parse refuses a raw one (too large,
// no time, not OTLP, more points than MaxEvents), and judges each point of
// the others.
func (in *Ingest) judgeOTLP(value []byte, tenant string, recordTime time.Time) normalize.Result {
	o := in.opts.Normalize
	whole := func(reason normalize.Reason, format string, args ...any) normalize.Result {
		return normalize.Result{Rejected: []normalize.Rejected{{Raw: value,
			Err: &normalize.Error{Reason: reason, Index: -1, Msg: fmt.Sprintf(format, args...)}}}}
	}
	if len(value) > o.MaxRecordBytes {
		return whole(normalize.ReasonTooLarge, "record is %d bytes, more than the limit of %d", len(value), o.MaxRecordBytes)
	}
	if recordTime.UnixMicro() <= 0 {
		return whole(normalize.ReasonNoRecordTime, "the record has no timestamp to judge its event times against "+
			"(%s must have message.timestamp.type=LogAppendTime, as `eventops topics` creates it)", tables.OTLPTopic)
	}
	format := otlp.Protobuf
	if t := bytes.TrimLeft(value, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		format = otlp.JSON
	}
	md, err := otlp.Unmarshal(value, format)
	if err != nil {
		return whole(err.Reason, "%s", err.Msg)
	}
	d := otlp.Decode(md, otlp.Options{Tenant: tenant})
	if n := len(d.Points) + len(d.Refused); n > o.MaxEvents {
		return whole(normalize.ReasonTooLarge, "record holds %d points, more than the limit of %d", n, o.MaxEvents)
	}
	for what, n := range d.Dropped {
		in.opts.Metrics.Dropped.WithLabelValues(tables.StageIngest, what).Add(float64(n))
	}
	return o.Judge(d, recordTime)
}
