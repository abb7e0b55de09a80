// Command eventops is the one EventOps binary: `eventops dev` runs
// everything in one process on an embedded broker, `eventops run` runs chosen
// stages against an external Kafka/Redpanda and PostgreSQL, and the other
// subcommands create topics, migrate, check rules, make API keys, generate
// load, benchmark, and run the failure harness.
//
// This package owns the wiring: settings (flags > EVENTOPS_* environment >
// YAML file > defaults, checked at start, errors naming the key), which
// stages a replica runs and how they are connected, and the order of a
// shutdown: intake stops, deferred commits are released as batches and
// states become durable, writers drain, producers flush, connections close.
package main
