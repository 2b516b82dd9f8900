-- EchoFS metadata: the source of truth. Redis holds nothing that matters.

CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    username      text NOT NULL UNIQUE,
    password_hash text NOT NULL,
    is_admin      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- A chunk is immutable and named by the SHA-256 of its uncompressed bytes.
CREATE TABLE chunks (
    chunk_id           text PRIMARY KEY CHECK (chunk_id ~ '^[0-9a-f]{64}$'),
    raw_size           integer NOT NULL CHECK (raw_size >= 0),
    stored_size        integer NOT NULL CHECK (stored_size >= 0),
    codec              text NOT NULL CHECK (codec IN ('raw', 'zstd')),
    blob_sha256        text NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    -- GC deletes an unreferenced chunk only once this is older than its grace period.
    last_referenced_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE workers (
    worker_id      text PRIMARY KEY,
    address        text NOT NULL,           -- gRPC host:port
    metrics_url    text NOT NULL DEFAULT '',
    zone           text NOT NULL DEFAULT '',
    capacity_bytes bigint NOT NULL DEFAULT 0,
    used_bytes     bigint NOT NULL DEFAULT 0,
    chunk_count    bigint NOT NULL DEFAULT 0,
    state          text NOT NULL DEFAULT 'healthy'
                   CHECK (state IN ('healthy', 'suspect', 'down', 'draining', 'removed')),
    rtt_ms         double precision,
    registered_at  timestamptz NOT NULL DEFAULT now(),
    last_heartbeat timestamptz NOT NULL DEFAULT now(),
    state_changed_at timestamptz NOT NULL DEFAULT now()
);

-- Where each chunk's copies are. 'live' rows are durable copies a worker acknowledged.
CREATE TABLE replicas (
    chunk_id   text NOT NULL REFERENCES chunks(chunk_id) ON DELETE CASCADE,
    worker_id  text NOT NULL REFERENCES workers(worker_id) ON DELETE CASCADE,
    state      text NOT NULL DEFAULT 'live' CHECK (state IN ('live', 'corrupt', 'missing')),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chunk_id, worker_id)
);
CREATE INDEX replicas_by_worker ON replicas (worker_id, chunk_id);

CREATE TABLE files (
    id                 uuid PRIMARY KEY,
    owner_id           bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    path               text NOT NULL,
    current_version_id uuid,
    consistency_hint   text NOT NULL DEFAULT 'Auto'
                       CHECK (consistency_hint IN ('Auto', 'Strong', 'Available')),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX files_owner_path ON files (owner_id, path);

CREATE TABLE file_versions (
    id          uuid PRIMARY KEY,
    file_id     uuid NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    size        bigint NOT NULL CHECK (size >= 0),
    sha256      text NOT NULL,
    chunk_size  integer NOT NULL,
    chunk_count integer NOT NULL,
    mode        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX file_versions_by_file ON file_versions (file_id, created_at);
CREATE INDEX file_versions_by_time ON file_versions (created_at);

ALTER TABLE files ADD CONSTRAINT files_current_version_fk
    FOREIGN KEY (current_version_id) REFERENCES file_versions(id) DEFERRABLE INITIALLY DEFERRED;

CREATE TABLE version_chunks (
    version_id uuid NOT NULL REFERENCES file_versions(id) ON DELETE CASCADE,
    idx        integer NOT NULL CHECK (idx >= 0),
    chunk_id   text NOT NULL REFERENCES chunks(chunk_id),
    PRIMARY KEY (version_id, idx)
);
CREATE INDEX version_chunks_by_chunk ON version_chunks (chunk_id);

-- Durable replication work: a chunk with fewer than N live copies. Never dropped.
CREATE TABLE repair_queue (
    chunk_id        text PRIMARY KEY REFERENCES chunks(chunk_id) ON DELETE CASCADE,
    reason          text NOT NULL,        -- 'write_pending', 'worker_down', 'corrupt', ...
    live_copies     integer NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX repair_queue_order ON repair_queue (live_copies, next_attempt_at);

CREATE TABLE upload_sessions (
    id           uuid PRIMARY KEY,
    owner_id     bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    path         text NOT NULL,
    file_name    text NOT NULL,
    file_size    bigint NOT NULL CHECK (file_size >= 0),
    chunk_size   integer NOT NULL CHECK (chunk_size > 0),
    total_chunks integer NOT NULL CHECK (total_chunks >= 0),
    sha256       text,
    consistency  text NOT NULL DEFAULT 'auto',
    protocol     text NOT NULL DEFAULT 'chunks' CHECK (protocol IN ('chunks', 'tus')),
    state        text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'completed', 'aborted')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX upload_sessions_expiry ON upload_sessions (state, expires_at);

CREATE TABLE upload_session_parts (
    session_id uuid NOT NULL REFERENCES upload_sessions(id) ON DELETE CASCADE,
    idx        integer NOT NULL CHECK (idx >= 0),
    chunk_id   text NOT NULL REFERENCES chunks(chunk_id),
    size       integer NOT NULL,
    PRIMARY KEY (session_id, idx)
);
