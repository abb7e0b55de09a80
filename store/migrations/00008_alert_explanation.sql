-- explanation: why a transition happened, as the rule engine explained it
-- when it decided (the explanation of the transition's JSON on
-- ops.alert.v1, at most 2 KiB): the condition, the features read with
-- their windows, sample counts and time ranges, the threshold crossed, the
-- newest samples with their raw records, and what ended a resolved alert.
-- Rows written before have none (NULL), as do transitions that carried
-- none.

-- +goose Up
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS explanation JSONB;

-- +goose Down
ALTER TABLE alerts DROP COLUMN IF EXISTS explanation;
