-- Resumable uploads: chunk sessions and tus share one table.
ALTER TABLE upload_sessions DROP CONSTRAINT upload_sessions_state_check;
ALTER TABLE upload_sessions ADD CONSTRAINT upload_sessions_state_check
    CHECK (state IN ('open', 'completing', 'completed', 'aborted', 'expired'));
-- The object id the upload will commit to, reserved at init so its consistency mode
-- is the object's from the first part on.
ALTER TABLE upload_sessions ADD COLUMN file_id uuid NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE upload_sessions ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE upload_sessions ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
-- tus bytes past the last whole chunk, stored durably as a chunk of their own.
ALTER TABLE upload_sessions ADD COLUMN tail_chunk_id text REFERENCES chunks(chunk_id);
ALTER TABLE upload_sessions ADD COLUMN tail_size integer NOT NULL DEFAULT 0;
CREATE INDEX upload_sessions_owner_open ON upload_sessions (owner_id) WHERE state = 'open';
