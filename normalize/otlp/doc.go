// Package otlp maps OpenTelemetry metrics (OTLP, decoded by the
// collector's pdata) to the points normalize judges, so that a sample that
// came by OTLP becomes the same event as one sent as JSON.
//
// The mapping, for every data point:
//   - tenant: the resource attribute tenant_id, else Options.Tenant (the
//     request's tenant over HTTP, the record's X-Scope-OrgID header on
//     Kafka); none is refused with reason missing_field;
//   - host: the resource attribute host.name, else service.instance.id,
//     else service.name; none is refused with reason missing_field;
//   - metric: the name as the OpenTelemetry-to-Prometheus conventions make
//     it (github.com/prometheus/otlptranslator: dots to underscores, the
//     unit as a suffix, _total on monotonic sums, _ratio on gauges of unit
//     1), then lower-cased by normalize;
//   - tags: the data point's attributes, their keys made Prometheus label
//     names (http.route → http_route), their values as strings (arrays and
//     maps as JSON); and job from service.namespace/service.name, as
//     Prometheus makes it;
//   - value and time: the point's; a point without a time takes the
//     record's.
//
// Gauges are gauges, cumulative sums are counters when monotonic (their
// names end _total) and gauges otherwise; cumulative histograms and
// exponential histograms give NAME_count and NAME_sum, counters both
// (their buckets are left out, counted); summaries give NAME_count,
// NAME_sum and one NAME{quantile="q"} gauge per quantile. Delta temporality
// needs state across requests to become a cumulative counter and is refused
// with reason unsupported_type, as are metrics of no known type. Points
// flagged as having no recorded value, exemplars and buckets are left out
// and counted in Decoded.Dropped; metric descriptions are not kept.
//
// Points are numbered (Point.Index) in request order, one number per OTLP
// data point: the several points of a histogram or summary share theirs,
// so that the number of refused data points is the number of distinct
// indexes refused (OTLP's partial success counts data points).
//
// The package is pure: no Kafka or HTTP library, time only from the data.
package otlp
