-- The batched lookups of a small request, planned once (issue 19.2).
--
-- Concurrent requests' lookups share one statement (master/metadata/batched.py): the
-- download snapshot by path, an upload's bucket and file id, and the chunk holders a
-- write asks for. Each takes its keys as parameter arrays. Left to choose between a
-- generic and a custom plan, PostgreSQL re-planned them at every execution: the generic
-- plan's estimate for unnest of a parameter array is 10 rows, so for the 2-6 keys of a
-- real batch a custom plan always looked cheaper, and was paid for every time. Planning
-- the snapshot statement (six relations and a subplan) cost more than running it:
-- 3 keys over ~2,000 files, 720-950 us per statement re-planned against 260-290 us with
-- its one generic plan (bench/notes.md, "Batched lookups planned once").
--
-- Here each runs inside a function that carries keyed_plans.plan_by_key's four settings
-- (set on all three at the end of this file), as echofs_commit_versions does: PL/pgSQL
-- keeps its statements' plans for the connection's life, the one generic plan is used,
-- and it is planned as index probes of the batch's keys whatever the statistics said
-- when it was made. Files and versions
-- are reached through fenced probes (LATERAL ... OFFSET 0) of (bucket, path) and of the
-- version id, so no plan can reach them through the bucket alone.

-- Each (bucket name, path, version id or NULL for the current one) with its version's
-- chunks in order (a file with no chunks: one row, chunk columns NULL); the first
-- p_holders_for chunks come with their live holders. Keys with no such file (or a delete
-- marker as the wanted version) give no row. i: the key's position, from 1.
CREATE FUNCTION echofs_download_snapshots(p_holders_for integer, p_buckets text[],
                                          p_paths text[], p_version_ids uuid[])
RETURNS TABLE (i bigint, id uuid, owner_id bigint, path text, consistency_hint text,
               created_at timestamptz, updated_at timestamptz, version_id uuid,
               size bigint, sha256 text, chunk_size integer, chunk_count integer,
               mode text, bucket_id bigint, bucket text, idx integer, chunk_id text,
               raw_size integer, stored_size integer, codec text, blob_sha256 text,
               holders text[])
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT t.i, f.id, f.owner_id, f.path::text, f.consistency_hint, f.created_at,
           f.updated_at, v.id, v.size, v.sha256, v.chunk_size, v.chunk_count, v.mode,
           f.bucket_id, b.name::text, vc.idx, c.chunk_id, c.raw_size, c.stored_size,
           c.codec, c.blob_sha256,
           CASE WHEN vc.idx < p_holders_for THEN ARRAY(
               SELECT r.worker_id FROM replicas r JOIN workers w ON w.worker_id = r.worker_id
               WHERE r.chunk_id = c.chunk_id AND r.state = 'live' AND w.state <> 'removed')
           END
    FROM unnest(p_buckets, p_paths, p_version_ids) WITH ORDINALITY
         AS t(bucket, path, version_id, i)
    JOIN buckets b ON b.name = t.bucket
    JOIN LATERAL (SELECT * FROM files f WHERE f.bucket_id = b.id AND f.path = t.path
                  OFFSET 0) f ON true
    JOIN LATERAL (SELECT * FROM file_versions v
                  WHERE v.id = COALESCE(t.version_id, f.current_version_id)
                    AND v.file_id = f.id AND NOT v.deleted OFFSET 0) v ON true
    LEFT JOIN version_chunks vc ON vc.version_id = v.id
    LEFT JOIN chunks c ON c.chunk_id = vc.chunk_id
    ORDER BY t.i, vc.idx;
END
$$;

-- Each (bucket name, path) with its bucket's row and the id of its file at the path
-- (NULL: no file there). Keys naming no bucket give no row. i: the key's position. The
-- file id is a scalar subquery, not a LEFT JOIN: joined, a plan made on a small or
-- fast-growing files table read every file of the bucket, filtered by path.
CREATE FUNCTION echofs_upload_targets(p_names text[], p_paths text[])
RETURNS TABLE (i bigint, id bigint, name text, owner_id bigint, home_of bigint,
               versioning boolean, keep_versions integer, keep_days integer,
               quota_bytes bigint, quota_files bigint, state text,
               created_at timestamptz, group_id bigint, file_id uuid)
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT t.i, b.id, b.name::text, b.owner_id, b.home_of, b.versioning, b.keep_versions,
           b.keep_days, b.quota_bytes, b.quota_files, b.state, b.created_at, b.group_id,
           (SELECT f.id FROM files f WHERE f.bucket_id = b.id AND f.path = t.path)
    FROM unnest(p_names, p_paths) WITH ORDINALITY AS t(name, path, i)
    JOIN buckets b ON b.name = t.name;
END
$$;

-- The chunk rows of p_chunk_ids that exist and are not marked by GC, each with its
-- live copies on workers not removed (a row with worker_id NULL: no live copy). Their
-- GC clock restarts: an upload about to rely on existing copies keeps GC away from
-- them for the grace period. The rows are locked in id order before they are touched,
-- as every other writer of several chunk rows locks them (echofs_persist_chunks), so
-- two batches sharing chunks queue instead of deadlocking.
CREATE FUNCTION echofs_touch_chunks(p_chunk_ids text[])
RETURNS TABLE (chunk_id text, worker_id text)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH wanted AS (SELECT c.chunk_id FROM chunks c
                    WHERE c.chunk_id = ANY(p_chunk_ids) AND c.gc_marked_at IS NULL
                    ORDER BY c.chunk_id FOR NO KEY UPDATE),
    touched AS (UPDATE chunks c SET last_referenced_at = now() FROM wanted w
                WHERE c.chunk_id = w.chunk_id RETURNING c.chunk_id)
    SELECT t.chunk_id, r.worker_id FROM touched t
    LEFT JOIN replicas r ON r.chunk_id = t.chunk_id AND r.state = 'live'
        AND EXISTS (SELECT 1 FROM workers w WHERE w.worker_id = r.worker_id
                    AND w.state <> 'removed');
END
$$;

-- keyed_plans.PLAN_SETTINGS, on each of the three (tests/integration/test_commit_plans.py
-- compares them).
DO $$
DECLARE
    fn regprocedure;
BEGIN
    FOREACH fn IN ARRAY ARRAY['echofs_download_snapshots(integer, text[], text[], uuid[])',
                              'echofs_upload_targets(text[], text[])',
                              'echofs_touch_chunks(text[])']::regprocedure[] LOOP
        EXECUTE format('ALTER FUNCTION %s SET enable_seqscan = off SET enable_hashjoin = off'
                       ' SET enable_mergejoin = off SET plan_cache_mode = force_generic_plan',
                       fn);
    END LOOP;
END
$$;
