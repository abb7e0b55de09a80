// Package store is EventOps's PostgreSQL side: the connection pool, the
// embedded migrations, idempotent batch writes of metrics and alerts, the
// sources view, partition maintenance and retention, and the read queries
// behind the HTTP API.
//
// Invariants:
//   - Writes are idempotent. A metric row's natural key is (tenant,
//     source_id, metric, ts); an alert row's is (episode_id, state). A
//     metrics batch is COPYed straight into metrics under a savepoint; when
//     any of its rows is there already (a replay), PostgreSQL refuses that
//     COPY with a unique violation and the batch is copied into a
//     session-local staging table and moved with INSERT ... ON CONFLICT DO
//     NOTHING instead. Alerts always take the staging way. Replaying any
//     input never duplicates a row.
//   - A batch is one transaction: when WriteMetrics returns nil, every row of
//     the batch not returned as bad is durable (inserted now or before), and
//     so is the batch's contribution to sources.
//   - Rows PostgreSQL rejects as bad data are split out of their batch and
//     returned as BadRow values, so one bad row never blocks the others.
//     Rows older than the retention are returned as bad with ErrExpired: a
//     partition that retention dropped is never created again.
//   - sources holds one row per (tenant, source_id): first and last event
//     time and the metadata of the newest event, upserted once per distinct
//     source per batch, in key order (no deadlocks between writers).
//   - Queries take parameters only; SQL is never built from user text (the
//     aggregation is chosen from a fixed table).
//   - metrics is partitioned by UTC day on ts (metrics_YYYYMMDD); partitions
//     are created ahead (Maintain: today and the next PartitionsAhead days),
//     on demand for the rows that need them, and retention drops whole
//     partitions, all under one advisory lock.
//   - ScanSignals streams a range of metrics as signals in (tenant,
//     source_id, id) order, each source's in the order its records arrived
//     (WriteMetrics numbers a batch's new rows in order): the sources
//     listed from the sources table, then a query per source on the
//     primary key's (tenant, source_id) prefix, sorted by id on the
//     server, its rows handed on as they arrive: its memory does not grow
//     with the range, and metrics carries no index for it.
//   - alert_activity is an append-only audit trail (ack, assign, note, with
//     the actor); alert_acks holds each episode's ack in force. Ack
//     decisions of one episode are serialized (an advisory lock): an ack
//     with the expiry in force records nothing, so a client may send it
//     again.
package store
