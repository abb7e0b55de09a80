// Command eventops is the one EventOps binary: `eventops dev` runs
// everything in one process on an embedded broker, `eventops run` runs chosen
// stages against an external Kafka/Redpanda and PostgreSQL, and the other
// subcommands create topics, migrate, check rules, make API keys, generate
// load, benchmark, and run the failure harness.
//
// This package owns the settings (flags > EVENTOPS_* environment > YAML
// file > defaults, checked at start, errors naming the key), the API keys
// file, and the subcommands, which stay thin: dev and run end in
// replica.New(opts).Run(ctx) (package replica wires the stages and stops
// them in order), bench in bench.Run, chaos in chaos.Run.
//
// The subcommands that listen (dev, run, broker) accept port 0 in kafka_addr
// and http_addr and report what they bound, once, in one way: the JSON of
// addr_file, written whole when every listener is bound (and a "listening"
// log line). Whoever starts them reads the ports from there, so that no
// port is chosen by one process and bound by another.
package main
