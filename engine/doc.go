// Package engine is one source's evaluation step, shared by the source
// actors and the backtest: a signal's samples folded into the source's
// series (future bound, series admission, features.Series.Add, resent
// samples), the source's event-time clock moved on, series that went stale
// dropped, and the rules evaluated on what changed; and, between signals,
// the rules' deadlines caught up to a source time (rules.Lifecycle).
//
// A Source holds a *tables.SourceState and its rules.SourceFeatures and
// never reads the clock: the wall time a signal arrives at is a parameter
// (it only moves tables.SourceState.ArrivalMilli, which Clock reads), and
// so is the record's receive time (0 when it is unknown: the future bound
// then does not apply). What it emits and refuses, and what it counts, it
// reports through Hooks; what needs the world around one source (the
// tenant-wide series reservation, the bound on the encoded state) comes in
// through Hooks too. Whoever drives it keeps the rest: redelivery and origin
// checks, offsets, flushing, timers, records, metrics and eviction.
//
// Given the same state, rules and calls, a Source emits the same
// transitions in the same order, episode IDs included; that is what lets a
// backtest stand for the live engine.
//
// Warm folds stored samples into a source's windows without evaluating its
// rules (the warm start of a source that starts empty), and Reconfigure
// brings its series to a reloaded rule set's feature configurations.
//
// It imports features, rules and tables only.
package engine
