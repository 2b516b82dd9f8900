-- A version commit as one statement (issue 19.2).
--
-- The commit (master/metadata/version_commit.py) was eleven to thirteen statements in a
-- transaction: BEGIN, one pipelined round trip, COMMIT. Each statement cost the master
-- ~75 us of psycopg (dumping its arrays in Python, reading its result) and PostgreSQL a
-- parse, bind and execute of its own, at a few hundred commits a second. The same
-- statements now run here, in order, in one function the master calls in autocommit
-- mode with the whole batch as one jsonb document (json.dumps is C; psycopg's array
-- dumping is Python, per array): one statement, one round trip, its own transaction.
-- Every check that can refuse the commit runs here too, before the statement ends, so a
-- refusal rolls everything back. The function's SET clauses are
-- keyed_plans.plan_by_key's: its statements are planned as probes of the batch's keys
-- and keep their one generic plan.
--
-- The shared pieces are functions of their own, used by the commit and by the master's
-- other callers alike, so each is written once: the chunk and replica rows of a written
-- chunk (echofs_persist_chunks: commits, upload-session parts, multipart parts), its
-- repair row when short of N copies (echofs_enqueue_short_chunks), the directories a
-- path implies with their dir.created events (echofs_make_dirs: commits, mkdir, moves),
-- the drop of the versions a new current one replaces (echofs_drop_replaced: commits,
-- restores, deletes in versioned buckets). echofs_record_events is the outbox insert
-- of this file's events; master/metadata/events.py's outbox_insert fills the same
-- columns the same way for the master's other statements.

-- Events whose fields are known: type, bucket, path, version, size, etag, actor.
CREATE FUNCTION echofs_record_events(p_types text[], p_bucket_ids bigint[], p_paths text[],
                                     p_version_ids uuid[], p_sizes bigint[], p_etags text[],
                                     p_actor_ids bigint[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_outbox (type, bucket_id, bucket, owner_id, path, version_id, size,
                              etag, actor)
    SELECT e.type, k.id, k.name, k.owner_id, e.path, e.version_id, e.size, e.etag,
           COALESCE(u.username, '')
    FROM unnest(p_types, p_bucket_ids, p_paths, p_version_ids, p_sizes, p_etags, p_actor_ids)
         WITH ORDINALITY AS e(type, bucket_id, path, version_id, size, etag, actor_id, n)
    JOIN buckets k ON k.id = e.bucket_id
    LEFT JOIN users u ON u.id = e.actor_id
    ORDER BY e.n;
END
$$;

-- Create the directories (bucket, path) that do not exist, with a dir.created event
-- each (actor: the matching p_actor_ids); return the ones made.
CREATE FUNCTION echofs_make_dirs(p_bucket_ids bigint[], p_paths text[], p_actor_ids bigint[])
RETURNS TABLE (made_bucket_id bigint, made_path text) LANGUAGE plpgsql AS $$
DECLARE
    made_buckets bigint[];
    made_paths text[];
    made_actors bigint[];
BEGIN
    WITH wanted AS (SELECT * FROM unnest(p_bucket_ids, p_paths, p_actor_ids) AS t(b, p, a)),
    made AS (INSERT INTO directories AS d (bucket_id, path)
             SELECT w.b, w.p FROM wanted w ORDER BY w.b, w.p
             ON CONFLICT DO NOTHING RETURNING d.bucket_id, d.path)
    SELECT array_agg(m.bucket_id ORDER BY m.bucket_id, m.path),
           array_agg(m.path ORDER BY m.bucket_id, m.path),
           array_agg(w.a ORDER BY m.bucket_id, m.path)
    INTO made_buckets, made_paths, made_actors
    FROM made m JOIN wanted w ON w.b = m.bucket_id AND w.p = m.path;
    IF made_paths IS NOT NULL THEN
        PERFORM echofs_record_events(
            array_fill('dir.created'::text, ARRAY[cardinality(made_paths)]),
            made_buckets, made_paths, NULL, NULL, NULL, made_actors);
    END IF;
    RETURN QUERY SELECT * FROM unnest(made_buckets, made_paths);
END
$$;

-- Upsert the rows of written chunks (restarting their GC clock) and a live replica row
-- per acknowledged copy. Chunk ids sorted by the caller: one lock order for all writers.
-- p_reused: the chunks whose row existed when the write began (dedup). They are locked
-- first and must still be unmarked by GC, or their blobs may be gone: then nothing
-- commits (SQLSTATE EC503, DETAIL {"chunk_ids": [...]}) and the client retries.
CREATE FUNCTION echofs_persist_chunks(p_reused text[], p_chunk_ids text[],
                                      p_raw_sizes integer[], p_stored_sizes integer[],
                                      p_codecs text[], p_blob_sha256s text[],
                                      p_replica_chunk_ids text[], p_replica_worker_ids text[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    held text[];
    gone text[];
BEGIN
    IF cardinality(p_reused) > 0 THEN
        -- FOR NO KEY UPDATE, the lock the upsert below takes anyway: a shared lock here
        -- had to be upgraded there, and two commits reusing one chunk then deadlocked
        -- (each holding the share the other's upgrade waits for).
        SELECT array_agg(l.chunk_id) INTO held FROM (
            SELECT chunk_id FROM chunks WHERE chunk_id = ANY(p_reused) AND gc_marked_at IS NULL
            ORDER BY chunk_id FOR NO KEY UPDATE) AS l;
        SELECT array_agg(r.id ORDER BY r.id) INTO gone FROM unnest(p_reused) AS r(id)
        WHERE held IS NULL OR NOT r.id = ANY(held);
        IF gone IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'EC503',
                MESSAGE = format('%s chunk(s) this upload reused were garbage-collected while'
                                 ' it ran; nothing was committed, retry the upload',
                                 cardinality(gone)),
                DETAIL = json_build_object('chunk_ids', gone[1:20])::text;
        END IF;
    END IF;
    INSERT INTO chunks (chunk_id, raw_size, stored_size, codec, blob_sha256)
    SELECT * FROM unnest(p_chunk_ids, p_raw_sizes, p_stored_sizes, p_codecs, p_blob_sha256s)
    ON CONFLICT (chunk_id) DO UPDATE SET last_referenced_at = now(), gc_marked_at = NULL;
    IF cardinality(p_replica_chunk_ids) > 0 THEN
        INSERT INTO replicas (chunk_id, worker_id)
        SELECT * FROM unnest(p_replica_chunk_ids, p_replica_worker_ids)
        ON CONFLICT (chunk_id, worker_id) DO UPDATE SET state = 'live', updated_at = now();
    END IF;
END
$$;

-- A repair row for each chunk with fewer than p_replication_factor live copies; one
-- whose missing copies are still being written (p_in_flight) is due after p_grace_s.
CREATE FUNCTION echofs_enqueue_short_chunks(p_chunk_ids text[], p_replication_factor integer,
                                            p_in_flight text[], p_grace_s double precision)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO repair_queue (chunk_id, reason, live_copies, next_attempt_at)
    SELECT c.chunk_id, 'write_pending', count(r.worker_id) FILTER (WHERE r.state = 'live'),
           now() + CASE WHEN c.chunk_id = ANY(p_in_flight)
                        THEN make_interval(secs => p_grace_s) ELSE interval '0' END
    FROM unnest(p_chunk_ids) AS c(chunk_id)
    LEFT JOIN replicas r ON r.chunk_id = c.chunk_id
    GROUP BY c.chunk_id
    HAVING count(r.worker_id) FILTER (WHERE r.state = 'live') < p_replication_factor
    ON CONFLICT (chunk_id) DO UPDATE SET live_copies = EXCLUDED.live_copies;
END
$$;

-- Drop what new current versions replace: every other version of the file in an
-- unversioned bucket; in a versioned one, those past keep_versions (counting the new
-- one) or older than keep_days. Their chunks' GC clock restarts (released to GC after
-- its grace). Files are reached through a fenced probe (LATERAL ... OFFSET 0) of their
-- (bucket, path): joined plainly, the bucket id equals the buckets row's, and a plan
-- made on a small table reached files through the bucket alone, filtering by path
-- (every file of the bucket read per version).
CREATE FUNCTION echofs_drop_replaced(p_bucket_ids bigint[], p_paths text[], p_keep uuid[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    WITH t AS (SELECT * FROM unnest(p_bucket_ids, p_paths, p_keep) AS t(bucket_id, path, keep)),
    doomed AS (
        SELECT v.id FROM t
        JOIN LATERAL (SELECT f.id, f.bucket_id FROM files f
                      WHERE f.bucket_id = t.bucket_id AND f.path = t.path OFFSET 0) f ON true
        JOIN buckets k ON k.id = f.bucket_id
        JOIN file_versions v ON v.file_id = f.id AND v.id <> t.keep
        WHERE NOT k.versioning
           OR (k.keep_days IS NOT NULL
               AND v.created_at < now() - make_interval(days => k.keep_days))
           OR (k.keep_versions IS NOT NULL AND (SELECT count(*) FROM file_versions n
               WHERE n.file_id = v.file_id AND n.seq > v.seq) >= k.keep_versions)),
    touched AS (UPDATE chunks SET last_referenced_at = now() WHERE chunk_id IN
                (SELECT vc.chunk_id FROM version_chunks vc JOIN doomed ON doomed.id = vc.version_id)
                RETURNING 1)
    DELETE FROM file_versions WHERE id IN (SELECT id FROM doomed);
END
$$;

-- What echofs_commit_versions takes: one array per field, a version's fields at one
-- index, versions in lock order (bucket, path). if_matches / if_none_matches: each
-- version's precondition (NULL / false: none). Chunk arrays: the distinct chunks, sorted
-- by id; reused_chunk_ids: those whose row the write relied on (dedup).
-- version_chunk_*: each version's chunk list. parent_*: the directories the paths imply,
-- with the actor their dir.created event names. session_*: the upload sessions the
-- versions complete, with their updated_at when their parts were read. attribute_*: the
-- S3 gateway's attributes of the versions that have them.
CREATE TYPE echofs_version_batch AS (
    version_ids uuid[], file_ids uuid[], bucket_ids bigint[], paths text[], hints text[],
    sizes bigint[], etags text[], chunk_sizes integer[], chunk_counts integer[],
    modes text[], actor_ids bigint[], if_matches text[], if_none_matches boolean[],
    reused_chunk_ids text[], chunk_ids text[], raw_sizes integer[], stored_sizes integer[],
    codecs text[], blob_sha256s text[], replica_chunk_ids text[], replica_worker_ids text[],
    version_chunk_version_ids uuid[], version_chunk_idxs integer[],
    version_chunk_chunk_ids text[],
    parent_bucket_ids bigint[], parent_paths text[], parent_actor_ids bigint[],
    in_flight text[],
    session_ids uuid[], session_updated_ats timestamptz[],
    attribute_version_ids uuid[], attribute_etags text[], attribute_content_types text[],
    attribute_headers jsonb[], attribute_metadata jsonb[]
);

CREATE TYPE echofs_committed_version AS (file_id uuid, bucket_id bigint, path text);

-- Make each version of p_batch current, or nothing at all: the whole commit (see
-- version_commit.py for what it promises) is this one statement, so the master sends
-- it in autocommit mode and it is its own transaction. Refusals, each rolling it all
-- back (master/metadata/refusals.py turns them into the API's errors):
--   ES409  an upload session the commit completes changed since its parts were read;
--   EC409  a directory stands at a version's path or a file at one of its parents
--          (DETAIL: the path);
--   EC503  a reused chunk was taken by GC (echofs_persist_chunks);
--   EP412  a version's precondition does not hold, checked against the current version
--          read with the file row locked (DETAIL: {"path", "etag", "if_none_match"});
--   EN404  a version's bucket was deleted meanwhile.
CREATE FUNCTION echofs_commit_versions(p_batch jsonb, p_replication_factor integer,
                                       p_late_grace_s double precision)
RETURNS SETOF echofs_committed_version LANGUAGE plpgsql
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    req echofs_version_batch := jsonb_populate_record(NULL::echofs_version_batch, p_batch);
    v_file_ids uuid[];         -- each version's file after the upsert (NULL: bucket gone)
    v_live_etags text[];       -- the etag of each file's live version before (NULL: none)
    completed integer;
    clash text;
    failed record;
BEGIN
    IF cardinality(req.session_ids) > 0 THEN
        -- Their part rows go too: the version now holds their chunks, and a part row
        -- left behind would keep a chunk from GC after the file is deleted.
        WITH done AS (
            UPDATE upload_sessions s SET state = 'completed', updated_at = now(),
                tail_chunk_id = NULL, tail_size = 0
            FROM unnest(req.session_ids, req.session_updated_ats) AS t(id, seen)
            WHERE s.id = t.id AND s.state = 'open' AND s.updated_at = t.seen
            RETURNING s.id),
        parts AS (DELETE FROM upload_session_parts p USING done WHERE p.session_id = done.id)
        SELECT count(*) INTO completed FROM done;
        IF completed < cardinality(req.session_ids) THEN
            RAISE EXCEPTION USING ERRCODE = 'ES409',
                MESSAGE = 'an upload session changed while it was being completed';
        END IF;
    END IF;
    IF cardinality(req.parent_paths) > 0 THEN
        -- Hold the existing parent directories (shared): a move of one of them waits
        -- for this commit, or this commit waits for the move and then recreates the
        -- parents it needs; either way no file is left under a moved directory.
        PERFORM 1 FROM directories d
        JOIN unnest(req.parent_bucket_ids, req.parent_paths) AS t(bucket_id, path)
          ON d.bucket_id = t.bucket_id AND d.path = t.path
        ORDER BY d.bucket_id, d.path FOR SHARE OF d;
    END IF;
    -- The file rows first, then the chunk rows: every transaction that touches both
    -- (deletes, restores, commits) locks them in this order, so two writers of one
    -- path queue on its row instead of deadlocking over chunk rows.
    -- The upsert returns each file's row with its current version still the one before
    -- this commit (the pointer moves last): what a precondition is checked against, and
    -- what tells file.updated (over a live version) from file.created (over none or a
    -- delete marker). The row is locked from here on.
    WITH upserted AS (
        INSERT INTO files (id, owner_id, bucket_id, path, consistency_hint)
        SELECT t.id, k.owner_id, t.bucket_id, t.path, t.hint
        FROM unnest(req.file_ids, req.bucket_ids, req.paths, req.hints)
            AS t(id, bucket_id, path, hint)
        JOIN buckets k ON k.id = t.bucket_id
        ON CONFLICT (bucket_id, path) DO UPDATE
        SET updated_at = now(), consistency_hint = EXCLUDED.consistency_hint
        RETURNING files.id, files.bucket_id, files.path, files.current_version_id)
    SELECT array_agg(u.id ORDER BY t.n),
           array_agg(CASE WHEN NOT cur.deleted THEN cur.sha256 END ORDER BY t.n)
    INTO v_file_ids, v_live_etags
    FROM unnest(req.bucket_ids, req.paths) WITH ORDINALITY AS t(bucket_id, path, n)
    LEFT JOIN upserted u ON u.bucket_id = t.bucket_id AND u.path = t.path
    LEFT JOIN file_versions cur ON cur.id = u.current_version_id;
    IF array_position(v_file_ids, NULL) IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'EN404',
            MESSAGE = 'the bucket was deleted while uploading';
    END IF;
    SELECT t.path, t.live, t.if_none_match AND t.live IS NOT NULL AS none_match INTO failed
    FROM unnest(req.paths, v_live_etags, req.if_matches, req.if_none_matches)
        AS t(path, live, if_match, if_none_match)
    WHERE (t.if_none_match AND t.live IS NOT NULL)
       OR (t.if_match IS NOT NULL AND t.if_match <> '*' AND t.live IS DISTINCT FROM t.if_match)
       OR (t.if_match = '*' AND t.live IS NULL)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'EP412', MESSAGE = 'a precondition does not hold',
            DETAIL = json_build_object('path', failed.path, 'etag', failed.live,
                                       'if_none_match', failed.none_match)::text;
    END IF;
    PERFORM echofs_persist_chunks(req.reused_chunk_ids, req.chunk_ids, req.raw_sizes,
                                  req.stored_sizes, req.codecs, req.blob_sha256s,
                                  req.replica_chunk_ids, req.replica_worker_ids);
    SELECT c.path INTO clash FROM (
        SELECT f.path::text FROM files f
        JOIN unnest(req.parent_bucket_ids, req.parent_paths) AS d(bucket_id, path)
          ON f.bucket_id = d.bucket_id AND f.path = d.path
        UNION ALL
        SELECT d.path::text FROM directories d
        JOIN unnest(req.bucket_ids, req.paths) AS t(bucket_id, path)
          ON d.bucket_id = t.bucket_id AND d.path = t.path) AS c(path)
    LIMIT 1;
    IF clash IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'EC409', DETAIL = clash,
            MESSAGE = 'a path of the commit is a directory or a file, and cannot be both';
    END IF;
    INSERT INTO file_versions (id, file_id, size, sha256, chunk_size, chunk_count, mode)
    SELECT * FROM unnest(req.version_ids, v_file_ids, req.sizes, req.etags, req.chunk_sizes,
                         req.chunk_counts, req.modes);
    INSERT INTO version_chunks (version_id, idx, chunk_id)
    SELECT * FROM unnest(req.version_chunk_version_ids, req.version_chunk_idxs,
                         req.version_chunk_chunk_ids);
    IF cardinality(req.attribute_version_ids) > 0 THEN  -- the S3 gateway's (0013)
        INSERT INTO object_attributes (version_id, etag, content_type, headers, metadata)
        SELECT * FROM unnest(req.attribute_version_ids, req.attribute_etags,
                             req.attribute_content_types, req.attribute_headers,
                             req.attribute_metadata);
    END IF;
    -- The events, before the replaced versions go: the implied directories first, then
    -- one per version.
    IF cardinality(req.parent_paths) > 0 THEN
        PERFORM echofs_make_dirs(req.parent_bucket_ids, req.parent_paths, req.parent_actor_ids);
    END IF;
    PERFORM echofs_record_events(
        ARRAY(SELECT CASE WHEN e IS NULL THEN 'file.created' ELSE 'file.updated' END
              FROM unnest(v_live_etags) WITH ORDINALITY AS l(e, n) ORDER BY l.n),
        req.bucket_ids, req.paths, req.version_ids, req.sizes, req.etags, req.actor_ids);
    PERFORM echofs_drop_replaced(req.bucket_ids, req.paths, req.version_ids);
    PERFORM echofs_enqueue_short_chunks(req.chunk_ids, p_replication_factor, req.in_flight,
                                        p_late_grace_s);
    RETURN QUERY
    UPDATE files f SET current_version_id = t.keep
    FROM unnest(req.bucket_ids, req.paths, req.version_ids) AS t(bucket_id, path, keep)
    WHERE f.bucket_id = t.bucket_id AND f.path = t.path
    RETURNING f.id, f.bucket_id, f.path::text;
END
$$;
