// Package store is EventOps's PostgreSQL side: the connection pool, the
// embedded migrations, idempotent batch writes of metrics and alerts, and the
// read queries behind the HTTP API.
//
// Invariants:
//   - Writes are idempotent. A metric row's natural key is (tenant,
//     source_id, metric, ts); an alert row's is (episode_id, state). Rows are
//     copied into a session-local staging table and moved with INSERT ...
//     ON CONFLICT DO NOTHING, so replaying any input never duplicates a row.
//   - A batch is one transaction: when WriteMetrics returns nil, every row of
//     the batch is durable (inserted now or before).
//   - Rows PostgreSQL rejects as bad data are split out of their batch and
//     returned as BadRow values, so one bad row never blocks the others.
//   - Queries take parameters only; SQL is never built from user text.
//   - metrics is partitioned by day on ts; partitions are created ahead of
//     the rows that need them, and retention drops whole partitions.
package store
