// Package loadgen generates synthetic agent telemetry for EventOps: tenants
// × sources × metrics reporting on an event-time interval, with jitter, a
// share of out-of-order events, scripted anomalies that fire known rules and
// a share of malformed records. A generator is deterministic for a seed:
// the same options produce the same records, so a run can be replayed and
// compared against a reference.
//
// Records go to ingest.raw.agent (KafkaSink) or to POST /ingest (HTTPSink).
package loadgen
