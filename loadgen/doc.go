// Package loadgen generates synthetic agent telemetry for EventOps: tenants
// × sources × metrics reporting on an event-time interval, with jitter, a
// share of out-of-order events, scripted anomalies that fire known rules and
// a share of malformed records, and churn (sources replaced by new names
// each round, as hosts come and go). A generator is deterministic for a seed:
// the same options produce the same records, so a run can be replayed and
// compared against a reference.
//
// Records go to ingest.raw.agent (KafkaSink) or to POST /ingest (HTTPSink).
// Run paces them: at a rate, and (RunOptions.Speed) never with an event
// time further ahead of the run's start than the wall clock allows, so
// that live load is not refused as coming from the future. A run bounded
// by a duration stops generating at its end and still delivers what it
// sent; what the server refused is counted apart from what it took. A Job
// is the run `eventops loadgen` makes: it picks the sink (writing as an
// API key's tenant over HTTP), logs what it sends, and prints the summary.
package loadgen
