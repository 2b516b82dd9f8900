-- Download links (DESIGN.md §12, issue 17): time-limited, N-use or single-use URLs
-- /d/<token> that serve one pinned file version without authentication.
--
-- The token itself is never stored: token_hash is SHA-256 of it (a token carries 256
-- random bits, so a fast hash cannot be inverted and lets the unique index find it).
-- A use is claimed by one UPDATE ... WHERE uses < max_uses before any byte is sent, so
-- concurrent requests cannot serve a single-use link twice.
--
-- The pinned version (file_id, version_id) has no foreign key: an overwrite in an
-- unversioned bucket, retention, a delete or a bucket delete drop versions without
-- touching this table, and the link then answers 410 link_target_gone. bucket_id and
-- path say where the file was when the link was made (listing, revocation by the
-- bucket's owner); they are not kept in step with later moves.

CREATE TABLE links (
    id           uuid PRIMARY KEY,
    seq          bigint GENERATED ALWAYS AS IDENTITY UNIQUE,  -- listing order and cursor
    token_hash   bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_by   bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_via  text NOT NULL DEFAULT '',       -- 'key:<key_id>' when made with an API key
    bucket_id    bigint NOT NULL,
    bucket       text COLLATE "C" NOT NULL,
    path         text COLLATE "C" NOT NULL,
    file_id      uuid NOT NULL,
    version_id   uuid NOT NULL,
    max_uses     integer CHECK (max_uses >= 1),  -- NULL: unlimited until expiry
    uses         integer NOT NULL DEFAULT 0 CHECK (uses >= 0),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    revoked_by   bigint,
    last_used_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX links_by_creator ON links (created_by, seq);
CREATE INDEX links_by_bucket ON links (bucket_id, seq);
