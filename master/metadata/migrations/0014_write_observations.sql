-- What each master observes of its writes (issue 23), for the consistency controller: the
-- controller must decide on what the writers see, not only on its own probes. Every master
-- replaces its rows about once a second; a master's rows carry its holder id (host, port,
-- pid, random tail), so a restarted master starts fresh rows and stale ones simply age
-- (the controller reads only recent rows; masters delete rows older than a day).

-- One row per (master, worker): the master's probe state of the worker (only 'healthy'
-- takes new copies), its chunk puts' failure EWMA and latency EWMA (successful puts of
-- the last 30 s; NULL without), and the age of its oldest put still in flight.
CREATE TABLE worker_write_observations (
    master_id        text NOT NULL CHECK (length(master_id) BETWEEN 1 AND 200),
    worker_id        text NOT NULL,
    state            text NOT NULL,
    put_ok           bigint NOT NULL DEFAULT 0,
    put_failed       bigint NOT NULL DEFAULT 0,
    put_failure_rate double precision NOT NULL DEFAULT 0,
    put_latency_ms   double precision,
    oldest_put_ms    double precision NOT NULL DEFAULT 0,
    observed_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (master_id, worker_id)
);
CREATE INDEX worker_write_observations_by_time ON worker_write_observations (observed_at);

-- One row per master: its acknowledged chunk writes, the share (of the last 10 minutes' writes)
-- that left a copy to the repair queue, how long late copies took to land (EWMA, ms), and the age of repair
-- items when the repair it ran completed them (EWMA, ms; NULL before the first).
CREATE TABLE master_write_stats (
    master_id          text PRIMARY KEY CHECK (length(master_id) BETWEEN 1 AND 200),
    chunk_writes       bigint NOT NULL DEFAULT 0,
    repair_share       double precision NOT NULL DEFAULT 0,
    settle_ms          double precision NOT NULL DEFAULT 0,
    repair_completions bigint NOT NULL DEFAULT 0,
    repair_age_ms      double precision,
    observed_at        timestamptz NOT NULL DEFAULT now()
);

-- The controller's read model (see 0005): exactly the columns it reads.
CREATE VIEW controller_worker_observations AS
SELECT master_id, worker_id, state, put_failure_rate, put_latency_ms, oldest_put_ms,
       observed_at
FROM worker_write_observations;

CREATE VIEW controller_write_stats AS
SELECT master_id, chunk_writes, repair_share, settle_ms, repair_completions, repair_age_ms,
       observed_at
FROM master_write_stats;
