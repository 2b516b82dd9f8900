-- Change feed and webhooks (DESIGN.md §13, issue 18).
--
-- Every namespace change inserts its event rows into event_outbox in its own
-- transaction (an outbox: the event commits or rolls back with the change). Outbox rows
-- have no public id yet. A numbering step (master/metadata/event_feed.py) moves
-- committed outbox rows into `events`, giving them ids last_id + 1, last_id + 2, ... while
-- it holds the single event_counter row locked, so ids are handed out by one transaction
-- at a time and only to rows that have committed: an id that a reader has seen is never
-- followed by a smaller one becoming visible later. See event_feed.py for why a snapshot
-- (xmin) filter over ids taken at insert time is not enough.

CREATE TABLE event_outbox (
    seq         bigserial PRIMARY KEY,          -- insert order (not the public id)
    type        text NOT NULL,
    bucket_id   bigint NOT NULL,                -- no FK: events outlive their bucket
    bucket      text NOT NULL,
    owner_id    bigint NOT NULL,                -- the bucket's owner when it happened
    path        text COLLATE "C" NOT NULL,      -- '' for bucket.* events
    from_bucket text,                           -- a move or copy across buckets
    from_path   text COLLATE "C",
    version_id  uuid,
    size        bigint,
    etag        text,
    actor       text NOT NULL,
    at          timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE events (
    id          bigint PRIMARY KEY,
    type        text NOT NULL,
    bucket_id   bigint NOT NULL,
    bucket      text NOT NULL,
    owner_id    bigint NOT NULL,
    path        text COLLATE "C" NOT NULL,
    from_bucket text,
    from_path   text COLLATE "C",
    version_id  uuid,
    size        bigint,
    etag        text,
    actor       text NOT NULL,
    at          timestamptz NOT NULL
);
CREATE INDEX events_by_bucket ON events (bucket_id, id);

-- One row: the last id handed out, and the highest id pruned by retention (every id at
-- or below it is gone; a cursor below it has missed events: 410 cursor_expired).
CREATE TABLE event_counter (
    one            boolean PRIMARY KEY DEFAULT true CHECK (one),
    last_id        bigint NOT NULL DEFAULT 0,
    pruned_through bigint NOT NULL DEFAULT 0
);
INSERT INTO event_counter DEFAULT VALUES;

-- A committed outbox insert wakes the masters' listeners (delivered after COMMIT; a
-- rolled-back change notifies nobody). Correctness never depends on it: the masters
-- also number and re-read periodically.
CREATE FUNCTION echofs_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('echofs_outbox', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER event_outbox_notify AFTER INSERT ON event_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION echofs_outbox_notify();

-- Webhooks: per bucket (and optional prefix / types); their cursor is the last event id
-- examined (delivered, or skipped as not matching). The secret is stored sealed
-- (AES-GCM, master/services/webhook_secrets.py): it is needed in clear to sign.
CREATE TABLE webhooks (
    id               uuid PRIMARY KEY,
    owner_id         bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    bucket_id        bigint NOT NULL,           -- no FK: its last events outlive the bucket
    bucket           text NOT NULL,
    prefix           text COLLATE "C" NOT NULL DEFAULT '',
    types            text[],                    -- NULL: every type
    url              text NOT NULL,
    sealed_secret    bytea NOT NULL,
    cursor           bigint NOT NULL,
    state            text NOT NULL DEFAULT 'active'
                     CHECK (state IN ('active', 'cursor_expired')),
    attempts         integer NOT NULL DEFAULT 0,  -- failed attempts in a row
    next_attempt_at  timestamptz,
    last_attempt_at  timestamptz,
    last_delivered_at timestamptz,
    last_status      integer,
    last_error       text,
    delivered        bigint NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_by_owner ON webhooks (owner_id, created_at);
