-- Singleton jobs under a lease with a fencing token (DESIGN §16). Several masters share
-- this database; exactly one holds each job (repair, gc, membership, session-expiry) at
-- a time. `token` grows by one on every takeover and is never reused: a statement that
-- commits a job's work first locks its row FOR SHARE with the token it was given, so a
-- holder that stalled past its lease cannot commit after another took over.
CREATE TABLE singleton_leases (
    job          text PRIMARY KEY CHECK (length(job) BETWEEN 1 AND 64),
    holder       text NOT NULL,
    token        bigint NOT NULL CHECK (token > 0),
    expires_at   timestamptz NOT NULL,
    acquired_at  timestamptz NOT NULL DEFAULT now(),
    renewed_at   timestamptz NOT NULL DEFAULT now()
);

-- Which repair lease holder claimed an item (NULL: not claimed, or claimed without a
-- lease). A new holder re-claims at once what an older token claimed and never settled,
-- instead of waiting out the item's claim period behind a dead master.
ALTER TABLE repair_queue ADD COLUMN claim_token bigint;
