// Package chaos is EventOps's failure harness. It runs a known stream from
// the load generator through several `eventops run` replicas (separate OS
// processes) on a separately running `eventops broker` with a real
// PostgreSQL, injects one kind of fault several times per run — SIGKILL or
// SIGTERM of a replica, an added replica, a broker restart, PostgreSQL
// stopped, a burst of poison records — and then checks the outcome against a
// single-process reference of the same stream: every valid event stored
// once, every source's windowed features equal, every alert episode
// recorded exactly once per state, every poison record in the DLQ with its
// reason, no replica dead of bad input, memory bounded while PostgreSQL was
// down.
package chaos
