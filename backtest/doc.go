// Package backtest replays stored history through the rule engine that runs
// live: the samples of a time range, read from PostgreSQL one source at a
// time in event-time order, go through the same per-source step the source
// actors run (package engine: features, rules, series staleness), with the
// source's clock driven by event time, and every transition the live
// engine would have emitted is emitted, episode IDs included.
//
// Run is the replay; Summarize and Compare read its transitions (per-rule
// episodes, time firing, pages after for and grouping; the difference
// between two rule files). The command `eventops rules backtest`, the API
// route POST /rules/backtest and the dashboard's rule preview use them, and
// so does the warm start of a source's windows.
//
// It imports engine, rules, features, notify, tables and store (for the
// History of a Store); it starts no goroutine and keeps no global state.
package backtest
