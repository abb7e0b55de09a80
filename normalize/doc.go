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
//     unit, tags;
//   - metric names: lower case, with '.', '-', '/' and spaces turned into '_';
//   - units: common spellings mapped to one (%, pct → percent; msec → ms, ...);
//   - timestamps: RFC 3339 strings, or Unix numbers in s, ms, µs or ns told
//     apart by magnitude; an event without one takes the record's time.
//
// The package is pure: time comes in as a parameter.
package normalize
