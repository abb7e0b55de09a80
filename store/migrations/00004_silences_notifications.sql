-- silences: label matchers that mute a tenant's alerts between starts_at and
-- ends_at (expiring one sets ends_at to now). notifications: what each
-- receiver's webhook was sent of each alert episode, written after the
-- webhook accepted it, so that a transition read or emitted again (same
-- episode_id and state) is not sent twice.

-- +goose Up
CREATE TABLE silences (
  id         UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant     TEXT COLLATE "C" NOT NULL,
  matchers   JSONB NOT NULL,
  starts_at  TIMESTAMPTZ NOT NULL,
  ends_at    TIMESTAMPTZ NOT NULL,
  created_by TEXT NOT NULL,
  comment    TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  CHECK (ends_at >= starts_at),
  CHECK (jsonb_typeof(matchers) = 'array')
);
CREATE INDEX silences_tenant_ends ON silences (tenant, ends_at);

CREATE TABLE notifications (
  episode_id  TEXT COLLATE "C" NOT NULL,
  state       TEXT COLLATE "C" NOT NULL,
  receiver    TEXT COLLATE "C" NOT NULL,
  integration TEXT COLLATE "C" NOT NULL,
  tenant      TEXT COLLATE "C" NOT NULL,
  group_key   TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  sent_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (episode_id, state, receiver, integration)
);

-- +goose Down
DROP TABLE IF EXISTS notifications;
DROP TABLE IF EXISTS silences;
