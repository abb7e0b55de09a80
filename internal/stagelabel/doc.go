// Package stagelabel names, in CPU profiles, the stage a goroutine works
// for: a replica runs each stage under the profiler label Key (ingest,
// features, sink, notify, api), and the goroutines a stage starts inherit
// it, so that a profile of one process that runs every stage splits its
// CPU time by stage (eventops bench does, per event).
//
// A label is set once per goroutine, where it starts, never per record:
// goroutines inherit their creator's labels for free. Actors are the
// exception that needs care: a mailbox runs on a goroutine started by
// whoever posted to an idle mailbox (a stage's callback, a timer, a
// producer's callback), so the actors' dispatcher sets their stage's label
// on every goroutine it starts.
package stagelabel
