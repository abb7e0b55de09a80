-- notifications: the key gains the tenant. Episode IDs are derived from the
-- rule, the source and the time; two tenants can derive the same one, and
-- without the tenant in the key one tenant's record would stop the other's
-- notification from being recorded (ON CONFLICT DO NOTHING) and so from
-- being recognized as sent.
--
-- notify_firing: the firing alerts the notify stage has seen that take part
-- in inhibition (as a source or a target), one row per tenant and episode,
-- written before the transition's input is committed and deleted when the
-- episode resolves. It is the notifier's memory of which sources are
-- firing and which targets wait for them, read again after a restart or by
-- the partition's next owner.
--
-- notify_flapping: per tenant and alert fingerprint (every episode of one
-- rule on one series), the recent state changes the notify stage counts to
-- tell a flapping alert, and the transition it holds while it flaps.
--
-- notification_log: every decision and delivery attempt of the notify
-- stage (sent, failed, silenced, inhibited, muted, flapping, refused) with
-- why. Decisions carry a dedup key, so that a transition read again does
-- not log its decision twice; attempts are each their own row.

-- +goose Up
ALTER TABLE notifications DROP CONSTRAINT notifications_pkey;
ALTER TABLE notifications ADD PRIMARY KEY (tenant, episode_id, state, receiver, integration);

CREATE TABLE notify_firing (
  tenant      TEXT COLLATE "C" NOT NULL,
  episode_id  TEXT COLLATE "C" NOT NULL,
  alert       JSONB NOT NULL,
  updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, episode_id)
);

CREATE TABLE notify_flapping (
  tenant      TEXT COLLATE "C" NOT NULL,
  fingerprint TEXT COLLATE "C" NOT NULL,
  state       JSONB NOT NULL,
  flapping    BOOLEAN NOT NULL,
  updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, fingerprint)
);
CREATE INDEX notify_flapping_now ON notify_flapping (updated_at) WHERE flapping;

CREATE TABLE notification_log (
  id          BIGSERIAL PRIMARY KEY,
  tenant      TEXT COLLATE "C" NOT NULL,
  episode_id  TEXT COLLATE "C" NOT NULL,
  state       TEXT NOT NULL,
  alertname   TEXT NOT NULL,
  receiver    TEXT COLLATE "C" NOT NULL,
  integration TEXT NOT NULL,
  outcome     TEXT NOT NULL,
  reason      TEXT NOT NULL,
  group_key   TEXT NOT NULL,
  at          TIMESTAMPTZ NOT NULL,
  dedup       TEXT,
  CHECK (outcome IN ('sent', 'failed', 'silenced', 'inhibited', 'muted', 'flapping', 'refused'))
);
CREATE UNIQUE INDEX notification_log_dedup ON notification_log (tenant, dedup) WHERE dedup IS NOT NULL;
CREATE INDEX notification_log_tenant ON notification_log (tenant, id DESC);
CREATE INDEX notification_log_episode ON notification_log (tenant, episode_id, id DESC);

-- +goose Down
DROP TABLE IF EXISTS notification_log;
DROP TABLE IF EXISTS notify_firing;
DROP TABLE IF EXISTS notify_flapping;
-- Of records two tenants share under one episode ID, the old key keeps one.
DELETE FROM notifications a USING notifications b
  WHERE a.episode_id = b.episode_id AND a.state = b.state AND a.receiver = b.receiver
    AND a.integration = b.integration AND a.tenant > b.tenant;
ALTER TABLE notifications DROP CONSTRAINT notifications_pkey;
ALTER TABLE notifications ADD PRIMARY KEY (episode_id, state, receiver, integration);
