-- The consistency controller's read model (DESIGN.md §2): the controller reads the master's
-- state only through these views, never the tables below them, so the master may reshape
-- its tables as long as these keep their columns. Each view holds exactly what the
-- controller reads; the controller declares the same shapes in
-- consistency_controller/read_model.py and a contract test compares the two.
-- All are simple views: PostgreSQL inlines them, so a lookup by file id still uses the
-- tables' indexes (files_pkey, file_versions_by_file, version_chunks_pkey, ...).

-- Workers the controller probes: every one the master has not removed.
CREATE VIEW controller_workers AS
SELECT worker_id, address, state
FROM workers
WHERE state <> 'removed';

-- The repair backlog as one row: how many chunks wait for copies, and since when the oldest.
CREATE VIEW controller_repair_backlog AS
SELECT count(*) AS items, min(created_at) AS oldest_queued_at
FROM repair_queue;

-- One row per stored file version: which file was written, and when (write rates).
CREATE VIEW controller_object_writes AS
SELECT file_id, created_at AS written_at
FROM file_versions;

-- One row per file: its consistency hint, the workers holding a live copy of any chunk of
-- its current version, and when the oldest repair item among those chunks was queued
-- (NULL when none is queued).
CREATE VIEW controller_object_facts AS
SELECT
    f.id AS file_id,
    f.consistency_hint AS hint,
    ARRAY(
        SELECT DISTINCT r.worker_id
        FROM version_chunks vc
        JOIN replicas r ON r.chunk_id = vc.chunk_id AND r.state = 'live'
        WHERE vc.version_id = f.current_version_id
    ) AS replica_workers,
    (
        SELECT min(q.created_at)
        FROM version_chunks vc
        JOIN repair_queue q ON q.chunk_id = vc.chunk_id
        WHERE vc.version_id = f.current_version_id
    ) AS oldest_repair_at
FROM files f;
