// Package influx maps InfluxDB line protocol (parsed by
// github.com/influxdata/line-protocol/v2) to the points normalize judges,
// so that a sample written as a line becomes the same event as one sent as
// JSON.
//
// The mapping, for every field of a line:
//   - tenant: Options.Tenant (the request's: its key's tenant, or the org
//     parameter, the db parameter of /write, or X-Scope-OrgID with an admin
//     key or open access);
//   - host: the tag host, which leaves the tags (Telegraf sets it unless
//     omit_hostname is set); a line without one is refused with reason
//     missing_field;
//   - metric: MEASUREMENT_FIELD, or MEASUREMENT alone for a field named
//     value, every character but letters, digits, '_' and ':' made '_' (as
//     Telegraf's Prometheus outputs name them: "disk io,x" usage →
//     disk_io_x_usage), lower-cased by normalize;
//   - tags: the other tags;
//   - value: float, integer and unsigned fields as they are, booleans as 1
//     and 0; string fields are not samples and are left out, counted in
//     Decoded.Dropped;
//   - time: the line's timestamp in Options.Precision; a line without one
//     takes the record's time.
//
// A line that does not parse is refused whole with reason invalid_line and
// the parser's message; the other lines go on. Points are numbered
// (Point.Index) by their line, 1-based: the fields of a line share it.
// Lines are split at newlines, which line protocol allows in no value.
//
// The package is pure: no Kafka or HTTP library.
package influx
