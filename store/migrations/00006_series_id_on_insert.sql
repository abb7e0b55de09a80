-- A replica of the version before series keeps writing metrics with its
-- own column list, which has no series_id, until it is replaced. Its rows
-- get the series_id of their tags, as if EventOps had computed it, instead
-- of failing NOT NULL (and going to the dead-letter topic as bad data).

-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION eventops_metrics_series_id() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.series_id := eventops_series_id(NEW.metric, NEW.tags);
  RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER metrics_series_id BEFORE INSERT ON metrics
FOR EACH ROW WHEN (NEW.series_id IS NULL) EXECUTE FUNCTION eventops_metrics_series_id();

-- +goose Down
DROP TRIGGER IF EXISTS metrics_series_id ON metrics;
DROP FUNCTION IF EXISTS eventops_metrics_series_id();
