-- Consistency controller state. The controller only READS the master's state, through
-- the views the master's migrations publish for it (controller_workers, ...); these are its own.

-- One row per object the controller keeps a mode for; object_id '*' is the cluster-wide mode.
CREATE TABLE controller_objects (
    object_id      text PRIMARY KEY CHECK (length(object_id) BETWEEN 1 AND 256),
    mode           text NOT NULL DEFAULT 'C' CHECK (mode IN ('C', 'A', 'Hybrid')),
    hint           text NOT NULL DEFAULT 'Auto' CHECK (hint IN ('Auto', 'Strong', 'Available')),
    hint_set       boolean NOT NULL DEFAULT false,   -- given via /v1/hint or /v1/register
    registered     boolean NOT NULL DEFAULT false,   -- evaluated even without recent writes
    pending_mode   text CHECK (pending_mode IN ('C', 'A', 'Hybrid')),
    pending_votes  integer NOT NULL DEFAULT 0 CHECK (pending_votes >= 0),
    last_change_at timestamptz,
    reason_code    text NOT NULL DEFAULT 'initial',
    reason         text NOT NULL DEFAULT 'no evaluation yet: C is the safe default',
    score          double precision,
    decided_at     timestamptz NOT NULL DEFAULT now(),
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- Keys that are always C, whatever the signals or the override say.
CREATE TABLE controller_critical_keys (
    object_id  text PRIMARY KEY CHECK (length(object_id) BETWEEN 1 AND 256),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The operator's global pin: at most one row; no row (or mode NULL) = automatic.
CREATE TABLE controller_override (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    mode       text CHECK (mode IN ('C', 'A')),
    set_at     timestamptz NOT NULL DEFAULT now()
);

-- Every decision with its signals and reason. Consecutive identical outcomes for one
-- object (same mode, pending vote and reason code) share a row: repeats/last_seen_at grow.
CREATE TABLE controller_decisions (
    id            bigserial PRIMARY KEY,
    object_id     text NOT NULL,
    decided_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    repeats       integer NOT NULL DEFAULT 1,
    from_mode     text NOT NULL,
    mode          text NOT NULL,
    changed       boolean NOT NULL,
    reason_code   text NOT NULL,
    reason        text NOT NULL,
    score         double precision,
    pending_mode  text,
    pending_votes integer NOT NULL DEFAULT 0,
    signals       jsonb NOT NULL
);
CREATE INDEX controller_decisions_by_object ON controller_decisions (object_id, decided_at DESC);
CREATE INDEX controller_decisions_by_time ON controller_decisions (decided_at);
