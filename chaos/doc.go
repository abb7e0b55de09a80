// Package chaos is EventOps's failure harness. It runs a known stream from
// the load generator through several `eventops run` replicas (separate OS
// processes, every stage including notify) on a separately running
// `eventops broker` with a real PostgreSQL, injects one kind of fault
// several times per run — SIGKILL or SIGTERM of a replica, an added
// replica, a broker restart, PostgreSQL stopped, a burst of poison records —
// and then checks the outcome against a single-process reference.
//
// Every run also plays the same scenario of everyday input (scenario.go):
// events cut into lines by a line-oriented producer, bursts of records that
// open JSON and never close it, other junk; a source whose clock is partly
// ahead (samples 50 minutes ahead, refused; samples 15 s ahead, accepted);
// events sent twice over Kafka and over HTTP; a silence on one host; and a
// rule reload in the middle of the stream that edits one rule and removes
// another. The replicas notify a webhook inside the harness.
//
// The reference is a pure re-computation with the features and rules
// packages, fed each source's accepted events in the order the broker
// keeps them, with the reload between the same two records of every
// source: the harness pauses the stream there until every stage has
// committed what was sent. It checks:
//   - every accepted event stored once with its value, and no other row;
//   - every source's windowed features equal, so a copy of a resent event
//     counted as a sample shows;
//   - every alert episode's transitions recorded exactly once each,
//     including the resolution (with its reason) of the episodes whose rule
//     the reload removed or edited;
//   - one firing and one resolved notification per episode of a host that
//     is not silenced, none twice but for the documented crash window (the
//     replica that sent it was SIGKILLed before it recorded it);
//   - every injected record and poison record in the DLQ with its reason,
//     and nothing else there;
//   - no sample of the skewed source refused as late, and its no-data rule
//     never firing;
//   - no replica dead of bad input, memory bounded while PostgreSQL was
//     down.
//
// An episode that resolves before its firing was sent is never notified
// (as with Alertmanager); so that the notifications expected do not depend
// on how long a fault held the notify stage, the harness sends the record
// that resolves an episode only once the webhook has its firing.
//
// Run returns a Report: a Row of counts per fault kind, printed as tables
// or as JSON, whose verdict (Err) fails on any count of something lost,
// duplicated or wrong.
package chaos
