-- The indexes metrics_source_ts and metrics_source_id (versions 12 and 13,
-- never released) served ScanSignals, and their upkeep cost every write of
-- metrics a fifth of its throughput. ScanSignals now reads a source at a
-- time on the primary key's (tenant, source_id) prefix instead, and the two
-- versions are gone. Databases that applied them keep those versions in
-- eventops_schema_version (goose skips applied versions it has no file
-- for) and the indexes: this drops them. Versions 12 and 13 are not to be
-- used again: such databases would take a new file of either as applied.

-- +goose Up
DROP INDEX IF EXISTS metrics_source_id;
DROP INDEX IF EXISTS metrics_source_ts;

-- +goose Down
-- Nothing: the indexes are not wanted back.
