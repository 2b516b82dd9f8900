-- Self-healing: when a down worker's chunks were queued for repair, and GC tombstones.
ALTER TABLE workers ADD COLUMN down_handled_at timestamptz;
ALTER TABLE workers ADD COLUMN drain_started_at timestamptz;
-- GC marks a chunk 'deleting' before it deletes blobs; uploads never deduplicate against
-- such a chunk, and a writer that stores it again clears the mark.
ALTER TABLE chunks ADD COLUMN gc_marked_at timestamptz;
CREATE INDEX chunks_gc_candidates ON chunks (last_referenced_at);
CREATE INDEX upload_session_parts_by_chunk ON upload_session_parts (chunk_id);
