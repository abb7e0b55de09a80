-- metrics becomes partitioned by day with the natural key (tenant, source_id,
-- metric, ts); alerts gain the alert lifecycle and the key (episode_id,
-- state). Rows of the original schema are carried over.

-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION eventops_ensure_metrics_partition(day DATE) RETURNS BOOLEAN
LANGUAGE plpgsql AS $$
DECLARE
  name TEXT := format('metrics_%s', to_char(day, 'YYYYMMDD'));
BEGIN
  IF to_regclass(name) IS NOT NULL THEN
    RETURN FALSE;
  END IF;
  -- Replicas may race to create the same partition.
  PERFORM pg_advisory_xact_lock(hashtext('eventops_metrics_partitions'));
  IF to_regclass(name) IS NOT NULL THEN
    RETURN FALSE;
  END IF;
  EXECUTE format('CREATE TABLE %I PARTITION OF metrics FOR VALUES FROM (%L) TO (%L)',
                 name, day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
  RETURN TRUE;
END $$;
-- +goose StatementEnd

ALTER TABLE metrics RENAME TO metrics_seed;
ALTER SEQUENCE metrics_id_seq RENAME TO metrics_seed_id_seq;
CREATE SEQUENCE metrics_id_seq AS BIGINT;

CREATE TABLE metrics (
  id          BIGINT NOT NULL DEFAULT nextval('metrics_id_seq'),
  ts          TIMESTAMPTZ NOT NULL,
  tenant      TEXT COLLATE "C" NOT NULL,
  source_id   TEXT COLLATE "C" NOT NULL,
  metric      TEXT COLLATE "C" NOT NULL,
  value       DOUBLE PRECISION NOT NULL,
  unit        TEXT NOT NULL DEFAULT '',
  tags        JSONB NOT NULL DEFAULT '{}',
  meta        JSONB,
  ingested_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, source_id, metric, ts)
) PARTITION BY RANGE (ts);
ALTER SEQUENCE metrics_id_seq OWNED BY metrics.id;
CREATE INDEX metrics_tenant_metric_ts ON metrics (tenant, metric, ts);
CREATE INDEX metrics_tags ON metrics USING GIN (tags jsonb_path_ops);

-- +goose StatementBegin
DO $$
DECLARE d DATE;
BEGIN
  FOR d IN SELECT DISTINCT (ts AT TIME ZONE 'UTC')::date FROM metrics_seed WHERE ts IS NOT NULL LOOP
    PERFORM eventops_ensure_metrics_partition(d);
  END LOOP;
END $$;
-- +goose StatementEnd

INSERT INTO metrics (ts, tenant, source_id, metric, value, unit, tags)
SELECT ts, tenant, source_id, metric, value, coalesce(unit, ''), coalesce(tags, '{}')
FROM metrics_seed
WHERE ts IS NOT NULL AND tenant IS NOT NULL AND source_id IS NOT NULL AND metric IS NOT NULL AND value IS NOT NULL
ORDER BY id
ON CONFLICT DO NOTHING;
-- metrics_seed stays: rows that differ from a row carried over only in their
-- tags are other series, which the series key (00005) carries over.

ALTER TABLE alerts ALTER COLUMN id TYPE BIGINT;
ALTER TABLE alerts
  ADD COLUMN episode_id  TEXT,
  ADD COLUMN state       TEXT,
  ADD COLUMN alertname   TEXT,
  ADD COLUMN rule_id     TEXT,
  ADD COLUMN labels      JSONB,
  ADD COLUMN annotations JSONB,
  ADD COLUMN features    JSONB,
  ADD COLUMN starts_at   TIMESTAMPTZ,
  ADD COLUMN ends_at     TIMESTAMPTZ,
  ADD COLUMN received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  ADD COLUMN payload     JSONB;
CREATE UNIQUE INDEX alerts_episode_state ON alerts (episode_id, state);
CREATE INDEX alerts_tenant_ts ON alerts (tenant, ts DESC, id DESC);
CREATE INDEX alerts_tenant_source_ts ON alerts (tenant, source_id, ts DESC);

-- +goose Down
DROP INDEX IF EXISTS alerts_tenant_source_ts;
DROP INDEX IF EXISTS alerts_tenant_ts;
DROP INDEX IF EXISTS alerts_episode_state;
ALTER TABLE alerts
  DROP COLUMN payload, DROP COLUMN received_at, DROP COLUMN ends_at, DROP COLUMN starts_at,
  DROP COLUMN features, DROP COLUMN annotations, DROP COLUMN labels, DROP COLUMN rule_id,
  DROP COLUMN alertname, DROP COLUMN state, DROP COLUMN episode_id;
ALTER TABLE metrics RENAME TO metrics_partitioned;
CREATE TABLE metrics (
  id SERIAL PRIMARY KEY, ts TIMESTAMPTZ, tenant TEXT, source_id TEXT, metric TEXT,
  value DOUBLE PRECISION, unit TEXT, tags JSONB
);
INSERT INTO metrics (ts, tenant, source_id, metric, value, unit, tags)
SELECT ts, tenant, source_id, metric, value, unit, tags FROM metrics_partitioned ORDER BY id;
DROP TABLE metrics_partitioned;
DROP TABLE IF EXISTS metrics_seed;
DROP FUNCTION IF EXISTS eventops_ensure_metrics_partition(DATE);
