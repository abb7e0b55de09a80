// Package notify decides who is told about an alert, when and with what:
// the receiver file (an Alertmanager-shaped route tree and webhook
// receivers), label matchers shared by routes and silences, aggregation
// groups with their group_wait, group_interval and repeat_interval timers,
// and the Alertmanager webhook payload (version 4), so that existing
// Alertmanager webhook consumers work unchanged.
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
//   - An acknowledged episode (Group.SetAcks, asked at repeat time only) is
//     left out of repeat_interval reminders until its ack expires; a
//     reminder of acknowledged episodes only is not sent, and is looked at
//     again when the first ack expires or a repeat_interval later.
package notify
