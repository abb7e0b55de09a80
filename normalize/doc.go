// Package normalize turns raw agent records into validated, standardized
// samples, and says precisely why it rejects what it rejects. It is shared by
// the ingest stage (records from ingest.raw.agent) and by HTTP ingest, so both
// accept and refuse exactly the same input.
//
// A record holds one JSON object, a JSON array of objects, or NDJSON (one
// object per line). Each event is judged on its own: good events of a record
// go on while its bad ones are rejected with a Reason.
//
// Records are never joined. A record that is a piece of an event cut into
// lines (kcat -P makes every line a record, and spreads unkeyed records over
// partitions) is refused with ReasonSplitRecord and an error that says what
// to send instead; splitRecord states the test, one pass over the record.
//
// Event times are judged against the record's time, never the wall clock:
// the broker's timestamp of a raw record (ingest.raw.agent is created with
// LogAppendTime, so it is when the broker received it) or the receive time
// of HTTP ingest. An event without a time takes the record's; an event more
// than MaxFuture ahead of it is refused with ReasonFuture; a record without a
// time is refused whole with ReasonNoRecordTime. So a replay of a record
// gets the same verdict and the same event times. DefaultMaxFuture (30 s)
// stays well inside the features stage's default lateness (1 m): a sample
// accepted ahead moves its metric's newest event time, and samples more than
// the lateness behind that are refused as late, so a skewed sample must not
// move it further than on-time samples can bear.
//
// Standardization:
//   - field names: tenant_id (or tenant), host (or hostname, source,
//     source_id), metric (or name), value, ts_event (or ts, timestamp, time),
//     unit, tags; matched ignoring case, and the last of a repeated field
//     counts;
//   - metric names: lower case, with '.', '-', '/' and spaces turned into '_';
//   - units: common spellings mapped to one (%, pct → percent; msec → ms, ...);
//   - timestamps: RFC 3339 strings, or Unix numbers in s, ms, µs or ns told
//     apart by magnitude;
//   - numeric tag values: the number in plain decimal, without exponent or
//     trailing zeros after the point (1.0 and 1e0 are "1", 1e-05 is
//     "0.00001"), the text PostgreSQL's eventops_series_id gives the same
//     JSON number, so a series has one series_id however its tags were
//     written and whichever side computes it (number.go). A number longer
//     than MaxTagLen in that form is refused with ReasonTooLarge.
//
// Records are read by a scanner made for this shape of event (scan.go,
// decode.go), not by encoding/json, which cost most of the pipeline's
// parsing time. It accepts and refuses exactly what the encoding/json
// version did, with the same reasons; FuzzParseMatchesReference holds it to
// that version, kept in reference_test.go (which has learnt the reasons
// added since). The one difference: with several bad tags in one event, the
// first bad key in key order now decides the reason, where map order made it
// random.
//
// Other protocols. The packages otlp, promrw and influx below this one
// map OTLP metrics, Prometheus remote-write and Influx line protocol to
// Points, each with the wire-format library of its protocol and no Kafka or
// HTTP library. Check judges a Point exactly as Parse judges the same
// event written as JSON (FuzzCheckMatchesParse holds it to that), and
// Event.AppendJSON writes an accepted event back as JSON, so that whatever
// protocol a sample came by, it is the same event from here on: HTTP ingest
// publishes it to ingest.raw.agent in that form.
//
// The package is pure: time comes in as a parameter.
package normalize
