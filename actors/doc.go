// Package actors holds EventOps's protoactor-go actors: the per-source
// evaluators that own a source's hot feature and alert state, and the batch
// writers that move rows into PostgreSQL.
//
// Each actor's Receive is a type switch over small message structs; the
// decisions are made by pure code (features, rules) or by the store, so they
// are tested without an actor context.
//
// Invariants:
//   - A batch writer calls a record's done function only once all its rows
//     are durable in PostgreSQL, or refused by PostgreSQL and written to the
//     DLQ with the reason; done functions run in the order rows arrived, so
//     commits stay in offset order per partition.
//   - Writers hold at most MaxPendingRows rows (plus one record per
//     partition being revoked); callers block beyond that, which stops
//     consumption instead of growing memory.
package actors
