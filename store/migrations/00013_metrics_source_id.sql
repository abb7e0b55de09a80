-- metrics_source_id serves ScanSignals: every sample of a source in the
-- order it arrived. id comes from metrics_id_seq at insert, and the writer
-- inserts a source's rows in the order of its signals (WriteMetrics), so a
-- source's rows in id order are in arrival order, the order the live engine
-- applied them in. It replaces metrics_source_ts (00012), which served the
-- event-time order no query reads any more. The range's bounds on ts are
-- met by partition pruning and a filter: a scan reads a source's rows of
-- the day partitions at either end of its range outside it too (at most a
-- day on each side), the price of one index instead of two on the largest
-- table.

-- +goose Up
CREATE INDEX IF NOT EXISTS metrics_source_id ON metrics (tenant, source_id, id);
DROP INDEX IF EXISTS metrics_source_ts;

-- +goose Down
CREATE INDEX IF NOT EXISTS metrics_source_ts ON metrics (tenant, source_id, ts, metric, series_id);
DROP INDEX IF EXISTS metrics_source_id;
