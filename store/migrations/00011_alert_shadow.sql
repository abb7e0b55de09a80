-- shadow: the transition is of a rule in shadow mode (mode: shadow in the
-- rule file): evaluated on live traffic and stored like any other, never
-- sent to receivers. Rows written before were all live (false).

-- +goose Up
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS shadow BOOLEAN NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE alerts DROP COLUMN IF EXISTS shadow;
