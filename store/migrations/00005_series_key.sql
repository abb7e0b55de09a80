-- A series is (tenant, source_id, metric, tags): the natural key of metrics
-- becomes (tenant, source_id, metric, series_id, ts), where series_id is
-- eventops_series_id(metric, tags), the hash EventOps computes for every
-- sample (tables.SeriesID): the first 8 bytes of the MD5 of the series'
-- canonical name metric{key="value",...}, tags in key order, a key
-- escaping \ and =, a value \ and " (the metric alone without tags).
-- Rows of the original schema that differed from a row carried over only
-- in their tags (kept aside in metrics_seed) are carried over now.

-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION eventops_series_id(metric TEXT, tags JSONB) RETURNS BIGINT
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ('x' || substr(md5(metric || coalesce((
    SELECT '{' || string_agg(replace(replace(key, '\', '\\'), '=', '\=') || '="' ||
                      replace(replace(value, '\', '\\'), '"', '\"') || '"', ',' ORDER BY key COLLATE "C") || '}'
    FROM jsonb_each_text(CASE WHEN jsonb_typeof(tags) = 'object' THEN tags ELSE '{}'::jsonb END)
    WHERE value IS NOT NULL), '')), 1, 16))::bit(64)::bigint
$$;
-- +goose StatementEnd

ALTER TABLE metrics ADD COLUMN series_id BIGINT;
UPDATE metrics SET series_id = eventops_series_id(metric, tags);
ALTER TABLE metrics ALTER COLUMN series_id SET NOT NULL;
-- +goose StatementBegin
DO $$
DECLARE pk TEXT;
BEGIN
  -- Its name depends on the schema the database started from.
  SELECT conname INTO STRICT pk FROM pg_constraint WHERE conrelid = 'metrics'::regclass AND contype = 'p';
  EXECUTE format('ALTER TABLE metrics DROP CONSTRAINT %I', pk);
END $$;
-- +goose StatementEnd
ALTER TABLE metrics ADD CONSTRAINT metrics_series_key PRIMARY KEY (tenant, source_id, metric, series_id, ts);

-- +goose StatementBegin
DO $$
BEGIN
  IF to_regclass('metrics_seed') IS NULL THEN
    RETURN;
  END IF;
  -- The partitions of these days were created with the rows carried over.
  INSERT INTO metrics (ts, tenant, source_id, metric, series_id, value, unit, tags)
  SELECT ts, tenant, source_id, metric, eventops_series_id(metric, coalesce(tags, '{}')), value,
         coalesce(unit, ''), coalesce(tags, '{}')
  FROM metrics_seed
  WHERE ts IS NOT NULL AND tenant IS NOT NULL AND source_id IS NOT NULL AND metric IS NOT NULL AND value IS NOT NULL
  ORDER BY id
  ON CONFLICT DO NOTHING;
  DROP TABLE metrics_seed;
END $$;
-- +goose StatementEnd

-- +goose Down
-- Series of one metric at one time collapse into one row again: the
-- lowest series_id stays.
DELETE FROM metrics a USING metrics b
WHERE a.tenant = b.tenant AND a.source_id = b.source_id AND a.metric = b.metric AND a.ts = b.ts
  AND a.series_id > b.series_id;
ALTER TABLE metrics DROP CONSTRAINT metrics_series_key;
ALTER TABLE metrics ADD PRIMARY KEY (tenant, source_id, metric, ts);
ALTER TABLE metrics DROP COLUMN series_id;
DROP FUNCTION IF EXISTS eventops_series_id(TEXT, JSONB);
