-- alert_activity: the audit trail of what people did with an alert episode
-- (acknowledged it, assigned it, wrote a note), oldest first by id, with
-- the API key's name as the actor. Rows are never updated or deleted.
-- alert_acks: the acknowledgement in force of each episode (the newest
-- ack of alert_activity), which the notifier reads before a
-- repeat_interval reminder; expires_at NULL holds until the episode
-- resolves.

-- +goose Up
CREATE TABLE alert_activity (
  id         BIGSERIAL PRIMARY KEY,
  tenant     TEXT COLLATE "C" NOT NULL,
  episode_id TEXT COLLATE "C" NOT NULL,
  kind       TEXT COLLATE "C" NOT NULL CHECK (kind IN ('ack', 'assign', 'note')),
  actor      TEXT NOT NULL,
  key_id     TEXT NOT NULL DEFAULT '',
  assignee   TEXT,
  note       TEXT,
  expires_at TIMESTAMPTZ,
  at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX alert_activity_episode ON alert_activity (tenant, episode_id, id);

CREATE TABLE alert_acks (
  tenant      TEXT COLLATE "C" NOT NULL,
  episode_id  TEXT COLLATE "C" NOT NULL,
  actor       TEXT NOT NULL,
  acked_at    TIMESTAMPTZ NOT NULL,
  expires_at  TIMESTAMPTZ,
  activity_id BIGINT NOT NULL REFERENCES alert_activity (id),
  PRIMARY KEY (tenant, episode_id)
);

-- +goose Down
DROP TABLE IF EXISTS alert_acks;
DROP TABLE IF EXISTS alert_activity;
