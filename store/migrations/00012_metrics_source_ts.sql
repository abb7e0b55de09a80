-- metrics_source_ts serves ScanSignals: every sample of a source in event
-- time order (then metric and series, the rest of the key, so that the
-- order is total and a scan resumes after any row). The key (tenant,
-- source_id, metric, series_id, ts) orders by series first, which a scan of
-- a source's history would have to sort whole.

-- +goose Up
CREATE INDEX IF NOT EXISTS metrics_source_ts ON metrics (tenant, source_id, ts, metric, series_id);

-- +goose Down
DROP INDEX IF EXISTS metrics_source_ts;
