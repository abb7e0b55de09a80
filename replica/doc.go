// Package replica wires one EventOps process: the stages it runs (ingest,
// features, sink, notify, api), what they share (the store, three
// producers, the actor system, the rules in force, the metrics registry),
// the adapters between the processors' ports and the actors, readiness,
// supervision, reloads and the ordered shutdown. eventops dev and run, and
// the benchmark, end in New(opts) then Run(ctx); settings, flags and the
// loading of the keys file stay with the command.
//
// Invariants:
//
//   - Run returns only once every goroutine it started has ended. It
//     builds every stage before it starts any, so a stage that cannot be
//     built (a bad receivers file, a state bound the brokers refuse) starts
//     nothing, and what was built is closed.
//   - A stage that fails is run again with backoff (counted in
//     eventops_stage_restarts_total); bad input never makes a stage fail.
//   - The store is opened only when the sink, notify or api stage runs.
//   - A stop goes in this order: intake stops (every stage returns, its
//     deferred commits released once the work is durable, the features
//     stage's states flushed to the table); the sink's writers drain; the
//     producers flush (the writers' DLQ records and the actors' writes
//     included); the actors stop; the producers and the store close.
//   - A reload reads the keys file before the rules, each on its own, so
//     that a rule file with an error never keeps a removed key working;
//     a bad rule file never half-applies (actors.Reloader).
//   - Readiness reasons name what is missing, never where: they are shown
//     to any client of /readyz.
package replica
