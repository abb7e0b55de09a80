-- The schema of the original EventOps sketch. Databases that already have it
-- keep their rows; the next migration moves them to the current shape.

-- +goose Up
CREATE TABLE IF NOT EXISTS metrics (
  id SERIAL PRIMARY KEY,
  ts TIMESTAMPTZ,
  tenant TEXT,
  source_id TEXT,
  metric TEXT,
  value DOUBLE PRECISION,
  unit TEXT,
  tags JSONB
);
CREATE TABLE IF NOT EXISTS alerts (
  id SERIAL PRIMARY KEY,
  ts TIMESTAMPTZ,
  tenant TEXT,
  source_id TEXT,
  metric TEXT,
  severity TEXT,
  rule TEXT,
  value DOUBLE PRECISION,
  message TEXT,
  tags JSONB
);

-- +goose Down
DROP TABLE IF EXISTS alerts;
DROP TABLE IF EXISTS metrics;
