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
// # Summary and comparison
//
// Summarizer folds transitions into episodes (Spans) and their labels:
// its memory grows with the episodes, never with the samples or the
// transitions. Its notifications are counted by replaying the episodes'
// firing and resolved notices, merged across sources in event-time order,
// through the routes and aggregation groups of package notify with event
// time as their clock and every attempt delivered: group_by, the group
// timers, send_resolved and time intervals apply; silences, acks,
// inhibition and flapping, which live depend on stored state, do not, and
// shadow episodes reach no receiver. Compare pairs the episodes of two
// rule files per rule (group and alert name) and series by overlap, in
// order of their pending times (see Compare). Both are pure and return
// JSON-tagged structs.
//
// # Identity
//
// Each source starts empty at the range's start (windows, alert states) in
// a fresh engine.Source; its stored samples are applied in event-time
// order, one signal per event time, without a receive time; before each
// signal the engine catches the rules' deadlines up to its event time, as
// a live source does, and at the source's end they are caught up to the
// range's end, as a silent live source's timers run on. When the live
// source's samples arrived in event-time order (whatever the order across
// sources), it gives exactly the transitions the live engine emitted:
// rule, labels, state, episode ID, times, value and features
// (TestBacktestIsTheLiveEngine, and end to end through the broker and
// PostgreSQL in cmd/eventops TestBacktestEqualsLiveEndToEnd).
//
// # Where it can differ from live
//
//   - History before the range: live windows and alerts carry what came
//     before; a backtest starts empty, so an alert already firing starts
//     a new episode and a window fills over its length. Start the range a
//     window and a for earlier than the period of interest.
//   - Out-of-order arrivals within a source: live evaluates a sample that
//     arrives after a newer one of its source at the source's clock (the
//     newest event time), with what had arrived; a backtest evaluates it at
//     its own event time, with every sample before it. Within the lateness
//     bound both fold it in and the windows end equal, but a transition
//     decided there can differ in time and episode ID
//     (TestLateSampleWithinLatenessCanDiffer); a late sample of a metric no
//     rule reads changes nothing, but that it does not move the source's
//     clock live, so a series going stale (SeriesStaleAfter) can be dropped
//     at another signal. Beyond the bound the sample is refused live
//     (too_late) and applied in a backtest: it is stored.
//   - Timers while a source was silent: live moves a silent source's clock
//     by the wall time since its last sample arrived; a backtest only by
//     event time, to the next sample or the range's end. They agree when
//     samples arrived as they happened; a source whose samples arrived
//     late (an agent's backlog, a stalled pipeline) may have had deadlines
//     evaluated live (a no-data alert fired) before samples a backtest
//     applies first.
//   - Samples refused live for other reasons: future (no receive time is
//     stored, so no future bound applies), the tenant-wide series limit
//     (sources are replayed one at a time: only MaxSeries applies) and the
//     source's state size (source_limit, shedding); a backtest applies
//     them. Samples of one event time that arrived in several records are
//     one signal in a backtest, evaluated once.
//   - The rules: one rule set for the whole range, where live may have
//     reloaded others meanwhile.
//   - Explanations: a backtest's samples carry no origin (raw record).
//   - Resends: a resent sample is stored once and applied once, live and
//     in a backtest; a transition re-emitted by a replay after a crash is
//     in the alerts table once, as a backtest emits it.
//
// It imports engine, rules, features, notify, tables and store (for the
// History of a Store); it starts no goroutine and keeps no global state.
package backtest
