-- sources: one row per (tenant, source_id) with the event-time span seen and
-- the newest metadata, kept by the metrics writer (one upsert per distinct
-- source per batch). eventops_drop_metrics_partitions: retention drops
-- whole daily partitions. An index for alert history per source.

-- +goose Up
CREATE TABLE sources (
  tenant     TEXT COLLATE "C" NOT NULL,
  source_id  TEXT COLLATE "C" NOT NULL,
  first_seen TIMESTAMPTZ NOT NULL,
  last_seen  TIMESTAMPTZ NOT NULL,
  meta       JSONB,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, source_id)
);

INSERT INTO sources (tenant, source_id, first_seen, last_seen, meta)
SELECT tenant, source_id, min(ts), max(ts), (array_agg(meta ORDER BY ts DESC))[1]
FROM metrics GROUP BY tenant, source_id;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION eventops_drop_metrics_partitions(before DATE) RETURNS SETOF TEXT
LANGUAGE plpgsql AS $$
DECLARE
  part TEXT;
BEGIN
  -- The lock eventops_ensure_metrics_partition takes: a partition is never
  -- created and dropped at once.
  PERFORM pg_advisory_xact_lock(hashtext('eventops_metrics_partitions'));
  FOR part IN
    SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'metrics'::regclass AND c.relname ~ '^metrics_[0-9]{8}$'
      AND to_date(substr(c.relname, 9), 'YYYYMMDD') < before
    ORDER BY c.relname
  LOOP
    EXECUTE format('DROP TABLE %I', part);
    RETURN NEXT part;
  END LOOP;
END $$;
-- +goose StatementEnd

DROP INDEX IF EXISTS alerts_tenant_source_ts;
CREATE INDEX alerts_tenant_source_ts ON alerts (tenant, source_id, ts DESC, id DESC);

-- +goose Down
DROP INDEX IF EXISTS alerts_tenant_source_ts;
CREATE INDEX alerts_tenant_source_ts ON alerts (tenant, source_id, ts DESC);
DROP FUNCTION IF EXISTS eventops_drop_metrics_partitions(DATE);
DROP TABLE IF EXISTS sources;
