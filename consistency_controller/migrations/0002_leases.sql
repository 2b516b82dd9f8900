-- The controller's own singleton lease (DESIGN §16): several controllers may run; one
-- holds `evaluation` and runs the decision loop, the others stand by. Same rules as the
-- master's singleton_leases (the controller never reads the master's tables): `token`
-- grows by one on every takeover, and a round's decisions commit only while its token is
-- the current one.
CREATE TABLE controller_leases (
    job          text PRIMARY KEY CHECK (length(job) BETWEEN 1 AND 64),
    holder       text NOT NULL,
    token        bigint NOT NULL CHECK (token > 0),
    expires_at   timestamptz NOT NULL,
    acquired_at  timestamptz NOT NULL DEFAULT now(),
    renewed_at   timestamptz NOT NULL DEFAULT now()
);
