-- The S3 gateway (DESIGN.md §17, issue 21).
--
-- Objects are the namespace's files: this migration adds only what S3 says about a
-- version that EchoFS did not keep, and the state of S3 multipart uploads.

-- What an S3 client sent or expects back for one version: its ETag (the MD5 of the
-- body for a single PUT, "<md5 of the part MD5s>-<parts>" for a multipart upload), its
-- Content-Type and the other representation headers S3 stores (Content-Disposition,
-- Content-Encoding, Content-Language, Cache-Control, Expires), and its user metadata
-- (x-amz-meta-*). Written in the version's commit transaction; a version without a row
-- (a REST upload, a REST copy or restore) answers with its SHA-256 as the ETag.
CREATE TABLE object_attributes (
    version_id   uuid PRIMARY KEY REFERENCES file_versions(id) ON DELETE CASCADE,
    etag         text NOT NULL,
    content_type text NOT NULL DEFAULT '',
    headers      jsonb NOT NULL DEFAULT '{}'::jsonb,
    metadata     jsonb NOT NULL DEFAULT '{}'::jsonb
);

-- S3 multipart uploads are upload sessions (protocol 's3'): expiry, abort and GC's view
-- of their chunks are the sessions' own. Part n's chunks are the session's parts
-- (upload_session_parts) with idx in [n * 100000, n * 100000 + chunk_count).
ALTER TABLE upload_sessions DROP CONSTRAINT upload_sessions_protocol_check;
ALTER TABLE upload_sessions ADD CONSTRAINT upload_sessions_protocol_check
    CHECK (protocol IN ('chunks', 'tus', 's3'));
CREATE INDEX upload_sessions_s3_open ON upload_sessions (bucket_id, path, created_at)
    WHERE protocol = 's3' AND state = 'open';

CREATE TABLE s3_parts (
    session_id  uuid NOT NULL REFERENCES upload_sessions(id) ON DELETE CASCADE,
    part_number integer NOT NULL CHECK (part_number BETWEEN 1 AND 10000),
    size        bigint NOT NULL CHECK (size >= 0),
    etag        text NOT NULL,             -- the part's MD5, hex
    chunk_count integer NOT NULL CHECK (chunk_count >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (session_id, part_number)
);

-- A session that leaves 'open' (completed, aborted, expired) keeps no part list: the
-- sessions' own code releases its chunks (upload_session_parts), this its S3 rows.
CREATE FUNCTION echofs_s3_parts_release() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM s3_parts WHERE session_id = NEW.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER upload_sessions_s3_parts_release AFTER UPDATE OF state ON upload_sessions
    FOR EACH ROW WHEN (NEW.protocol = 's3' AND NEW.state <> 'open' AND OLD.state = 'open')
    EXECUTE FUNCTION echofs_s3_parts_release();
