// Package promrw maps Prometheus remote-write requests (1.0,
// prometheus.WriteRequest, and 2.0, io.prometheus.write.v2.Request; both
// snappy-compressed protobuf, decoded with Prometheus's own prompb types)
// to the points normalize judges, so that a sample that came by
// remote-write becomes the same event as one sent as JSON.
//
// The mapping, for every sample:
//   - tenant: Options.Tenant (the request's: its key's tenant, or
//     X-Scope-OrgID with an admin key or open access, as Mimir reads it);
//   - host: the label instance, else host, else job, the label that named
//     the host leaving the tags (job stays a tag); none is refused with
//     reason missing_field;
//   - metric: the label __name__, lower-cased by normalize; none is
//     refused with reason missing_field;
//   - tags: the other labels;
//   - value and time (milliseconds) the sample's; a 2.0 series' unit its
//     metadata's.
//
// Counters keep their names (_total, _count, _sum, _bucket), which make
// them counters (rules.KindOf). A native histogram sample gives NAME_count
// and NAME_sum. Prometheus's staleness markers, exemplars and metadata
// (1.0's metadata, 2.0's help texts) are left out and counted in
// Decoded.Dropped.
//
// Points are numbered (Point.Index) by sample: the float samples in request
// order, then the histogram samples, the two points of a histogram sample
// sharing its number; Counts says how many there were of each, so that a
// 2.0 answer can say how many of each were written.
//
// The package is pure: no Kafka or HTTP library.
package promrw
