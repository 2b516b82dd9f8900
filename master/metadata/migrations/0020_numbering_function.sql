-- Numbering the change feed as one statement (issue 19.2).
--
-- A numbering pass (master/metadata/event_feed.py) was an EXISTS check, then BEGIN, the
-- counter row's lock, the numbering and COMMIT: three round trips, and under a stream of
-- small uploads a pass every NUMBERING_GAP_S on every master. The same steps now run
-- here, in one function the master calls in autocommit mode (one round trip; the call
-- is its own transaction).
--
-- The order that keeps readers correct is unchanged (see event_feed.py): the counter row
-- is locked first, by a statement of its own, and the numbering is a later statement of
-- this VOLATILE function, so under READ COMMITTED it takes a fresh snapshot once the
-- lock is held and sees every outbox row committed before, including those of the
-- numbering pass it may have waited for.
CREATE FUNCTION echofs_number_events(p_batch integer, p_channel text)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    numbered integer;
    notified integer;  -- read so that the notifying CTE runs (an unread SELECT CTE would not)
BEGIN
    -- Nothing committed to number (the common case of a periodic re-check): no need to
    -- lock the counter (a row lock is a write). A row committing right after this look
    -- notifies, and the next pass takes it.
    IF NOT EXISTS (SELECT 1 FROM event_outbox) THEN
        RETURN 0;
    END IF;
    PERFORM 1 FROM event_counter FOR UPDATE;
    -- Move a batch into events after the counter's value, move the counter, tell every
    -- master. One statement, so it reads the counter as it was (one snapshot).
    WITH base AS (SELECT last_id FROM event_counter),
    moved AS (DELETE FROM event_outbox WHERE seq IN
              (SELECT seq FROM event_outbox ORDER BY seq LIMIT p_batch) RETURNING *),
    numbered_rows AS (
        INSERT INTO events (id, type, bucket_id, bucket, owner_id, path, from_bucket,
                            from_path, version_id, size, etag, actor, at)
        SELECT (SELECT last_id FROM base) + row_number() OVER (ORDER BY seq),
               type, bucket_id, bucket, owner_id, path, from_bucket, from_path,
               version_id, size, etag, actor, at
        FROM moved RETURNING id),
    total AS (SELECT count(*) AS n FROM numbered_rows),
    bumped AS (UPDATE event_counter SET last_id = last_id + (SELECT n FROM total)
               WHERE (SELECT n FROM total) > 0 RETURNING last_id),
    told AS (SELECT pg_notify(p_channel, last_id::text) FROM bumped)
    SELECT (SELECT n FROM total), (SELECT count(*) FROM told) INTO numbered, notified;
    RETURN numbered;
END
$$;
