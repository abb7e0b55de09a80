// Package backtest replays stored history through the rule engine that runs
// live: the samples of a time range, read from PostgreSQL one source at a
// time in the order they arrived, go through the same per-source step the
// source actors run (package engine: features, rules, series staleness),
// with the source's clock driven by event time, and every transition the
// live engine would have emitted is emitted, episode IDs included.
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
// Each source starts empty (windows, alert states) in a fresh
// engine.Source at the start of the lead-in (Options.LeadIn, by default
// the longest window a rule reads plus its for and keep_firing_for)
// before the range; its stored samples
// from there are applied in the order they
// arrived (store.Store.ScanSignals reads a source by id, which the writer
// draws in the order of the source's records on the signals topic, the
// order its source actor applied them in), one signal per record and
// event time, without a receive time; before each signal the engine
// catches the rules' deadlines up to the source's clock, the newest event
// time applied, as a live source does, and at the source's end they are
// caught up to the range's end, as a silent live source's timers run on.
// Only the transitions decided in the range are emitted; those of the
// lead-in are not, but the states they leave carry on, and those open at
// the range's start (pending or firing) are reported apart, once per
// source as its replay reaches the start (Options.Open), as the
// transitions that would describe them. Spans and Summarizer take them
// (AddOpen) as carried episodes: one firing then counts its time firing
// from the start, its page sent before the start is not counted, though its
// resolution is a notification, so that an alert firing through the
// whole range, without a transition in it, is in every account.
// A sample that arrived after a newer one of its source is folded in at
// the source's clock, as live folded it in, within its metric's lateness
// bound, and refused (too_late) beyond it, as live refused it. So, whatever
// the order across sources and within one, it gives exactly the
// transitions the live engine emitted: rule, labels, state, episode ID,
// times, value and features (TestBacktestIsTheLiveEngine, with samples of
// the metrics the rules read arriving late within the bound and beyond it;
// TestLateSampleIsReplayedAsLive; and end to end through the broker and
// PostgreSQL in cmd/eventops TestBacktestEqualsLiveEndToEnd).
//
// # Where it can differ from live
//
//   - History before the lead-in: live windows and alerts carry what came
//     before; a backtest starts empty at the lead-in's start. With the
//     default lead-in every window is full at the range's start, but an
//     alert that started before it, or within it while windows were still
//     filling, can have another start and episode ID than live (it is not
//     emitted: the range sees its end, or nothing); a for pending across
//     the lead-in's start completes later. A lead-in of twice the longest
//     window plus the longest for leaves that to alerts older than it.
//   - Timers while a source was silent: live moves a silent source's clock
//     by the wall time since its last sample arrived; a backtest only by
//     event time, to the next sample or the range's end. They agree when
//     samples arrived as they happened; a source whose samples arrived
//     late (an agent's backlog, a stalled pipeline), or a late sample that
//     arrived while its source sent nothing newer, may have had deadlines
//     evaluated live (a no-data alert fired, a for completed) before
//     samples a backtest applies first.
//   - The arrival order, where the stored order is not the one live saw: a
//     source whose records went to two partitions (the topic's partition
//     count changed) has two orders, and rows stored by other means
//     (imports, migrations of old schemas) have the order they were
//     inserted in. (Two owners of a partition writing its rows during a
//     handover keep the order: see store.Store.WriteMetrics.)
//   - Records: a record's samples of several event times are as many
//     signals in a backtest (live applies them as one: one catch-up, one
//     evaluation), and consecutive records of a source received in the
//     same millisecond with samples of one time are one signal.
//   - Samples refused live for other reasons: future (no receive time is
//     stored, so no future bound applies), the tenant-wide series limit
//     (sources are replayed one at a time: only MaxSeries applies) and the
//     source's state size (source_limit, shedding); a backtest applies
//     them. Samples the store refused (dead-lettered) are not replayed.
//   - The rules: one rule set for the whole range, where live may have
//     reloaded others meanwhile.
//   - Explanations: a backtest's samples carry no origin (raw record).
//   - Resends: a resent sample is stored once, where it first arrived, and
//     applied once, live and in a backtest; a transition re-emitted by a
//     replay after a crash is in the alerts table once, as a backtest
//     emits it.
//
// It imports engine, rules, features, notify, tables and store (for the
// History of a Store); it starts no goroutine and keeps no global state.
package backtest
