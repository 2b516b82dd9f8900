-- Audit log (DESIGN.md §12, issue 17): one row per security-relevant action.
--
-- Rows outlive the users and objects they name, so actor and target are stored as text
-- (with the actor's id when there is one) rather than as foreign keys. Secrets never
-- reach this table: the service refuses detail fields named like one.

CREATE TABLE audit_log (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    actor_id  bigint,                      -- NULL: anonymous or an unknown username
    actor     text NOT NULL,               -- username as given ('' when anonymous)
    via       text NOT NULL DEFAULT '',    -- how the actor authenticated: '', 'key:<key_id>'
    action    text NOT NULL,               -- e.g. 'auth.login', 'bucket.create'
    target    text NOT NULL DEFAULT '',    -- what was acted on: a bucket, a user, a key id
    outcome   text NOT NULL DEFAULT 'ok' CHECK (outcome IN ('ok', 'denied', 'failed')),
    client    text NOT NULL DEFAULT '',    -- client address, when the edge knew it
    details   jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_by_actor ON audit_log (actor_id, id);
CREATE INDEX audit_log_by_action ON audit_log (action, id);
