// Package actors holds EventOps's protoactor-go actors: the per-source
// evaluators that own a source's hot feature and alert state, the batch
// writers that move rows into PostgreSQL, and the notifier that sends alert
// transitions to webhooks.
//
// Each actor's Receive is a type switch over small message structs; the
// decisions are made by pure code (features, rules, notify) or by the
// store, so they are tested without an actor context.
//
// Invariants:
//   - A batch writer calls a record's done function only once all its rows
//     are durable in PostgreSQL, or refused by PostgreSQL and written to the
//     DLQ with the reason (a record without rows: at once, behind the rows
//     buffered before it); done functions run in the order rows arrived, so
//     commits stay in offset order per partition.
//   - Writers hold at most MaxPendingRows rows; callers block beyond that,
//     which stops consumption instead of growing memory, and a caller that
//     gives up (its partition revoked) leaves its rows untaken. A writer
//     blocked retrying has at most one tick in its mailbox.
//   - Constructors spawn actors but start no goroutine: a writer (and the
//     sink) writes while its owner's Run(ctx) runs, and drains when ctx
//     ends, within DrainTimeout; the notifier's Run drains the same way.
//     The owner ends that ctx only after the stages that append have
//     stopped, and flushes its producers only after Run returned. Rows not
//     durable when the drain gives up stay unacknowledged and are read
//     again.
//   - A source actor applies a signal through its engine.Source (the step
//     the backtest runs too), at once, at its clock: the newest
//     event time it applied, each capped at its record's receive time (a
//     clock running ahead cannot move it; a sample further ahead than
//     MaxFuture, or half its metric's lateness, is refused as future). Rule
//     deadlines up to that clock are met first, stamped with the deadline,
//     so that timers give the same transitions whenever they run and
//     whoever owns the source. A sample whose event time its series applied
//     already (a resend, or a replay after a crash) changes nothing.
//   - A record the actor writes (an alert transition, a refused sample) is
//     written again until the broker takes it, and the state is not flushed
//     before: the table never holds a transition whose record was lost, and
//     its input stays unacknowledged meanwhile.
//   - A series is a metric with a set of tags: each has its own windows and
//     its own alerts. A source's series stay under MaxSeries and a tenant's
//     (in memory) under MaxTenantSeries: samples of new series beyond them
//     are refused (series_limit); its encoded state stays under
//     MaxStateBytes: samples beyond it are refused (source_limit), and a
//     state that still grows sheds series. Every flushed state carries the
//     generation of the session that wrote it, so that the table's recovery
//     keeps a later owner's state over a late write of an earlier one. A
//     state write not acknowledged within the hand-back grace fails, which
//     bounds how late such a write can land. What stays open: a late write
//     that lands after the new owner's last one, followed by a compaction
//     of the table before the new owner writes again (its source silent
//     since), leaves the older state as the only one to recover; closing it
//     takes a transactional producer fenced per partition.
//   - An actor that holds nothing the table does not (no deadline, nothing
//     unwritten) leaves memory after IdleTimeout; its state is written
//     through to the stage's local copy of the table, from which its next
//     signal rebuilds it. After a rebalance only sources with a rule
//     deadline get an actor; after a rule reload, every source with alert
//     states does.
//   - With warm start (SourcesOptions.Warm), a source without stored state
//     has its windows filled from its own tenant's and host's stored samples
//     of the longest window before its first signal (the series with a
//     sample within SeriesStaleAfter of it), and series reset by a
//     configuration change (at decode, or in memory after a reload) are
//     filled up to the source's clock and their future bound past it (a
//     clock running ahead applied samples there); the rules do not
//     evaluate that history, so no transition comes of it. The source's signals, rule
//     timer and flushes wait for the warm-up, in order, and its offsets
//     are acknowledged only behind the state that holds them; a warm-up
//     ends within its timeout (its wait for one of MaxInFlight slots
//     included), and one that fails starts the source cold.
//   - A source partition takes no signal once it began closing: Deliver
//     reports it, and a signal that reaches a stopped actor is handed back,
//     never silently dropped.
//   - The notifier delivers at least once per (episode, state, receiver,
//     webhook), deduplicated by the notifications table; duplicates come only
//     from the window between a webhook's 2xx and its record. A transition
//     is settled once delivered and recorded, silenced, refused for good by
//     its webhook (4xx), or refused by the full queue of a failing webhook
//     (counted); a PostgreSQL outage only delays it. Everything else it
//     holds of a partition whose session ended is handed back
//     (ErrUndelivered) at once, except a batch being sent, and that
//     partition's alerts leave its aggregation groups.
//   - A transition of a rule in shadow mode (Transition.Shadow) is settled
//     at once and counted (outcome shadow), before routing: it is never
//     sent, logged, grouped, checked for flapping or recorded as firing, so
//     it neither inhibits nor is inhibited. The sink stores it like any
//     other, with its mark. One exception: the end (resolved) of an
//     episode that began live, its rule demoted to shadow while it fired,
//     is handled as a live end once the intake finds the episode's firing
//     sent, recorded as an inhibition source or held while it flaps, so that no receiver keeps
//     it firing (with reminders) and nothing stays inhibited by it; any
//     other shadow end only reaches the aggregation groups, where it drops
//     a firing still waiting unsent (demoted within group_wait).
//   - An inhibited transition, or one held while its alert flaps, is
//     settled once its decision is in the notification log; a muted one is
//     held in its group (uncommitted, outside its webhook's queue, so that
//     it does not stop the intake) until its route's interval ends. The
//     notifier's memory of which alerts fire (for inhibition) and of each
//     alert's recent changes (for flapping) is written to PostgreSQL before
//     the transition settles, so a restart or the partition's next owner
//     decides as this process would have. A resolved inhibition source's
//     transition settles only once the alerts it releases are delivered,
//     even when its own notification is held for flapping. Of the replicas
//     whose timers look at the end of an alert's flapping, the one that
//     stores it (EndFlapping) sends the summary; one handed back puts the
//     alert back as flapping.
//   - An acknowledged episode is left out of repeat_interval reminders: a
//     group asks the notifier's ack hook (notifier_ack.go) at repeat time,
//     and the hook reads alert_acks in PostgreSQL, where the API writes
//     every ack. Acks are read rather than consumed from a topic because
//     the replica that takes an ack and the one that owns the episode's
//     partition may differ, and an ack matters only when a reminder falls
//     due: a read then needs no state to rebuild after a restart or a
//     rebalance. A failed read sends the reminder. An alert inhibited at
//     that time (sent before its source fired) is left out too.
//
// # Why a source actor writes goka's table itself
//
// The features stage declares its group table with goka.Persist, yet it
// never calls ctx.SetValue: a source actor encodes its state and produces
// it to the table's changelog topic (tables.FeaturesTable) with a producer
// of its own, and the stage then puts the flushed value into its local copy
// of the table (processors' storeNewer). goka still does the rest: it
// assigns the partitions of the signals topic and of the table together,
// restores each partition's local copy from the changelog before the
// partition's first callback, serves the table to every replica's view,
// and releases a revoked partition only once its deferred commits settle.
//
// The reason is that SetValue works only inside goka's callback, for the
// record at hand, while a source's state changes outside it: a rule's
// `for` or a no-data deadline passes with no record arriving; an alert
// transition must be acknowledged by the broker before the state that
// remembers it may be written; and a source that sends a hundred samples a
// second should write its state once per FlushInterval (spread over
// [F/2, 3F/2)), not a hundred times. Together with the deferred commits
// this keeps three promises: a signal's offset is committed only after a
// state holding its effect is in the table (Durable is called from the
// flushed message); the table never holds a transition whose alert record
// was lost (the record is written first); and every state carries the
// generation and epoch of the session that wrote it, so that a recovering
// replica keeps a later owner's state over an earlier owner's late write
// (tables.StoreIsNewer).
//
// Do not "fix" it with SetValue. Writing the state in the callback would
// write the whole state (kilobytes) for every signal instead of a few bytes
// per event; transitions decided by timers would never reach the table, so
// a restart would decide them again and write their records twice; a commit
// would no longer wait for the alert record; goka's write would carry no
// generation, so two owners' writes of one source could no longer be
// ordered; and the key would have two writers racing each other. A source
// has one writer: its actor.
package actors
