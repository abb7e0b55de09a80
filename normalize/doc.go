// Package normalize turns raw agent records into validated, standardized
// samples, and says precisely why it rejects what it rejects. It is shared by
// the ingest stage (records from ingest.raw.agent) and by HTTP ingest, so both
// accept and refuse exactly the same input.
//
// A record holds one JSON object, a JSON array of objects, or NDJSON (one
// object per line). Each event is judged on its own: good events of a record
// go on while its bad ones are rejected with a Reason.
//
// Standardization:
//   - field names: tenant_id (or tenant), host (or hostname, source,
//     source_id), metric (or name), value, ts_event (or ts, timestamp, time),
//     unit, tags; matched ignoring case, and the last of a repeated field
//     counts;
//   - metric names: lower case, with '.', '-', '/' and spaces turned into '_';
//   - units: common spellings mapped to one (%, pct → percent; msec → ms, ...);
//   - timestamps: RFC 3339 strings, or Unix numbers in s, ms, µs or ns told
//     apart by magnitude; an event without one takes the record's time.
//
// Records are read by a scanner made for this shape of event (scan.go,
// decode.go), not by encoding/json, which cost most of the pipeline's
// parsing time. It accepts and refuses exactly what the encoding/json
// version did, with the same reasons; FuzzParseMatchesReference holds it to
// that version, kept in reference_test.go. The one difference: with several
// bad tags in one event, the first bad key in key order now decides the
// reason, where map order made it random.
//
// The package is pure: time comes in as a parameter.
package normalize
