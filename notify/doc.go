// Package notify decides who is told about an alert, when and with what:
// the receiver file (an Alertmanager-shaped route tree and webhook
// receivers), label matchers shared by routes and silences, inhibit rules,
// time intervals (mute_time_intervals, active_time_intervals), flapping,
// aggregation groups with their group_wait, group_interval and
// repeat_interval timers, and the Alertmanager webhook payload (version
// 4), so that existing Alertmanager webhook consumers work unchanged.
//
// Flapping is detected here, in the notify stage, not by the rule engine
// that owns the alert's lifecycle. The rule engine keeps no state of an
// alert once it resolves (inactive states are not stored, which is what
// keeps a series' state within its memory and changelog budget), while
// flapping is a matter of several episodes of one alert: counting them
// there would add bytes to the state of every series, the 99 % that never
// flap included. The notify stage sees every firing and resolved
// transition of an alert, in order (one source's transitions share a
// partition), keeps a few change times per flapping-prone alert in
// PostgreSQL before the transition is committed (as it keeps what was
// sent), and flapping is about what receivers are told: the lifecycle on
// ops.alert.v1 and in the alerts table stays exact. The rule file carries
// the option (rules.Flapping); the summaries carry a "flapping"
// annotation, and the notification log says what was held and why.
//
// The package is pure: it takes time as a parameter, does no I/O and knows
// neither goka, protoactor, pgx nor fiber. The notifier actors (package
// actors) own the clocks, the HTTP calls and the durable record of what was
// sent.
//
// Invariants:
//   - Routing is Alertmanager's: a route matches when its matchers do; its
//     children are tried in order, the first match stops the search unless
//     it has continue: true; a route none of whose children match is itself
//     the match. Children inherit receiver, group_by and timings.
//   - A group never mixes tenants: tenant is always one of its labels.
//   - A group holds one entry per alert episode. An episode's resolved
//     notice is sent only to a receiver that was sent its firing, and only
//     with send_resolved; a resolved notice does not wait for
//     group_interval.
//   - A Group hands every token it was given back exactly once: from Add
//     when the transition needs no delivery, from Flush when it is dropped,
//     from Result once the batch carrying it was delivered or refused for
//     good, or from Withdraw when its alert leaves the group (its source
//     moved to another owner). A failed attempt keeps its tokens for the
//     next attempt, unless they are withdrawn.
//   - A withdrawn alert is forgotten: the group sends no repeat and no
//     resolved notice of it.
//   - Inhibition never crosses tenants: tenant is always one of the labels
//     an inhibit rule's source and target must share. An alert does not
//     inhibit itself.
//   - A route's time intervals are its own (not inherited, as in
//     Alertmanager); the root route has none. Whether a route is muted
//     does not change between now and Route.Muted's until.
//   - An alert starts flapping at the policy's changes within its window
//     and stops at a transition that finds fewer than half as many, or
//     once a window passes without a change; a copy of a transition read
//     again changes nothing.
//   - An acknowledged episode (Group.SetAcks, asked at repeat time only) is
//     left out of repeat_interval reminders until its ack expires; a
//     reminder of acknowledged episodes only is not sent, and is looked at
//     again when the first ack expires or a repeat_interval later.
package notify
