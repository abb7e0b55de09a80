-- A tag value is text. A JSON number is named by its canonical text: plain
-- decimal, without exponent or trailing zeros after the point (1, 1.0,
-- 1e0 are "1"; 1e-05 and 0.00001 are "0.00001"), which is what EventOps
-- makes of a numeric tag at ingest (normalize). A boolean is "true" or
-- "false"; a null tag is no tag; tags that are not a JSON object are no
-- tags. eventops_series_id hashes these texts, so the same tags get the
-- same series_id however they were written and whoever computes it.
--
-- Rows stored before, with numbers or other non-text values in their tags
-- (carried over from the original schema), get their tags in this form and
-- the series_id that goes with it. Where rows become the same row (tags 1
-- and 1.0 of one metric at one time), a row already in this form stays,
-- else the first written.

-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION eventops_tag_text(value JSONB) RETURNS TEXT
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE jsonb_typeof(value)
    WHEN 'string' THEN value #>> '{}'
    WHEN 'number' THEN trim_scale(value::numeric)::text
    WHEN 'null' THEN NULL
    ELSE value::text
  END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION eventops_tags(tags JSONB) RETURNS JSONB
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(jsonb_object_agg(key, eventops_tag_text(value)), '{}')
  FROM jsonb_each(CASE WHEN jsonb_typeof(tags) = 'object' THEN tags ELSE '{}'::jsonb END)
  WHERE jsonb_typeof(value) <> 'null'
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION eventops_series_id(metric TEXT, tags JSONB) RETURNS BIGINT
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ('x' || substr(md5(metric || coalesce((
    SELECT '{' || string_agg(replace(replace(key, '\', '\\'), '=', '\=') || '="' ||
                      replace(replace(eventops_tag_text(value), '\', '\\'), '"', '\"') || '"', ',' ORDER BY key COLLATE "C") || '}'
    FROM jsonb_each(CASE WHEN jsonb_typeof(tags) = 'object' THEN tags ELSE '{}'::jsonb END)
    WHERE jsonb_typeof(value) <> 'null'), '')), 1, 16))::bit(64)::bigint
$$;
-- +goose StatementEnd

-- A row written without series_id gets its tags in the same form.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION eventops_metrics_series_id() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.tags := eventops_tags(NEW.tags);
  NEW.series_id := eventops_series_id(NEW.metric, NEW.tags);
  RETURN NEW;
END $$;
-- +goose StatementEnd

CREATE TEMP TABLE metrics_retagged (LIKE metrics) ON COMMIT DROP;
WITH moved AS (DELETE FROM metrics WHERE tags <> eventops_tags(tags) RETURNING *)
INSERT INTO metrics_retagged SELECT * FROM moved;
INSERT INTO metrics (id, ts, tenant, source_id, metric, series_id, value, unit, tags, meta, ingested_at)
SELECT id, ts, tenant, source_id, metric, eventops_series_id(metric, tags), value, unit, eventops_tags(tags), meta, ingested_at
FROM metrics_retagged
ORDER BY id
ON CONFLICT DO NOTHING;

-- +goose Down
-- The tags keep their form; only how series_id reads numbers goes back.
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
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION eventops_metrics_series_id() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.series_id := eventops_series_id(NEW.metric, NEW.tags);
  RETURN NEW;
END $$;
-- +goose StatementEnd
DROP FUNCTION IF EXISTS eventops_tags(JSONB);
DROP FUNCTION IF EXISTS eventops_tag_text(JSONB);
