-- Buckets, directories, versions and tasks (DESIGN.md §11, issue 16).
--
-- Every file lives at a path inside one bucket. Wave-1 files (one namespace per user)
-- move into their owner's personal ("home") bucket, which every user gets here and, from
-- now on, at registration (echofs_create_home_bucket, the one implementation of the
-- naming rule, used by this migration and by UsersRepository.create).

CREATE TABLE buckets (
    id            bigserial PRIMARY KEY,
    -- S3's rules: 3-63 of a-z 0-9 . -, starting and ending with a letter or digit,
    -- no two dots in a row, not shaped like an IPv4 address.
    name          text COLLATE "C" NOT NULL UNIQUE CHECK (
                      name ~ '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$'
                      AND name !~ '\.\.'
                      AND name !~ '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$'),
    owner_id      bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- Set on a user's personal bucket: at most one per user, and it cannot be deleted.
    home_of       bigint UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    versioning    boolean NOT NULL DEFAULT false,
    keep_versions integer CHECK (keep_versions >= 1),
    keep_days     integer CHECK (keep_days >= 1),
    quota_bytes   bigint CHECK (quota_bytes >= 0),   -- stored; enforced by the next issue
    quota_files   bigint CHECK (quota_files >= 0),
    -- 'deleting': a recursive delete task owns it; it takes no new writes.
    state         text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'deleting')),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX buckets_by_owner ON buckets (owner_id, name);

-- The home bucket's base name: the username lowercased, every run of characters
-- outside a-z 0-9 turned into one '-', '-' trimmed at both ends, cut to 40 characters;
-- shorter than 3 characters -> 'user-' prefixed (or 'user' alone). Always S3-valid.
CREATE FUNCTION echofs_home_bucket_base(username text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN length(b) >= 3 THEN b ELSE rtrim('user-' || b, '-') END
    FROM (SELECT rtrim(left(trim(both '-' from
            regexp_replace(lower(username), '[^a-z0-9]+', '-', 'g')), 40), '-') AS b) AS s
$$;

-- Create the user's home bucket and return its name: the base name if free, otherwise
-- '<base>-<user id>', then '<base>-<user id>-2', '-3', ... (a name someone took first).
CREATE FUNCTION echofs_create_home_bucket(user_id bigint, username text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    base text := echofs_home_bucket_base(username);
    candidate text := base;
    attempt integer := 0;
BEGIN
    LOOP
        INSERT INTO buckets (name, owner_id, home_of) VALUES (candidate, user_id, user_id)
        ON CONFLICT (name) DO NOTHING;
        IF FOUND THEN
            RETURN candidate;
        END IF;
        attempt := attempt + 1;
        candidate := base || '-' || user_id
            || CASE WHEN attempt > 1 THEN '-' || attempt ELSE '' END;
    END LOOP;
END
$$;

DO $$
DECLARE u record;
BEGIN
    FOR u IN SELECT id, username FROM users ORDER BY id LOOP
        PERFORM echofs_create_home_bucket(u.id, u.username);
    END LOOP;
END
$$;

-- Files: keyed by (bucket, path). Paths compare byte-wise (COLLATE "C") so that a
-- prefix is a key range and listings page by plain comparisons. files.owner_id stays:
-- it is the bucket's owner (proof of possession, chunk_access, reads it).
ALTER TABLE files ADD COLUMN bucket_id bigint REFERENCES buckets(id) ON DELETE CASCADE;
UPDATE files f SET bucket_id = b.id FROM buckets b WHERE b.home_of = f.owner_id;
ALTER TABLE files ALTER COLUMN bucket_id SET NOT NULL;
DROP INDEX files_owner_path;
ALTER TABLE files ALTER COLUMN path TYPE text COLLATE "C";
CREATE UNIQUE INDEX files_bucket_path ON files (bucket_id, path);
CREATE INDEX files_by_owner ON files (owner_id);
-- A file's directory ('' at the root) and its last segment, for listings by parent.
ALTER TABLE files ADD COLUMN parent text COLLATE "C" GENERATED ALWAYS AS (
    CASE WHEN strpos(path, '/') = 0 THEN '' ELSE regexp_replace(path, '/[^/]*$', '') END
) STORED;
ALTER TABLE files ADD COLUMN name text COLLATE "C" GENERATED ALWAYS AS (
    regexp_replace(path, '^.*/', '')
) STORED;
CREATE INDEX files_by_parent ON files (bucket_id, parent, name);

-- Directories are real entries: created explicitly or implied by a file below them.
CREATE TABLE directories (
    bucket_id  bigint NOT NULL REFERENCES buckets(id) ON DELETE CASCADE,
    path       text COLLATE "C" NOT NULL,
    parent     text COLLATE "C" GENERATED ALWAYS AS (
        CASE WHEN strpos(path, '/') = 0 THEN '' ELSE regexp_replace(path, '/[^/]*$', '') END
    ) STORED,
    name       text COLLATE "C" GENERATED ALWAYS AS (regexp_replace(path, '^.*/', '')) STORED,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bucket_id, path)
);
CREATE INDEX directories_by_parent ON directories (bucket_id, parent, name);

-- The directories wave-1 paths implied.
INSERT INTO directories (bucket_id, path)
SELECT DISTINCT f.bucket_id, array_to_string((string_to_array(f.path, '/'))[1:i], '/')
FROM files f, generate_series(1, array_length(string_to_array(f.path, '/'), 1) - 1) AS i
ON CONFLICT DO NOTHING;

-- Versions: a delete marker is a version with deleted = true (versioned buckets);
-- seq orders one file's versions in commit order (taken under the file's row lock).
ALTER TABLE file_versions ADD COLUMN deleted boolean NOT NULL DEFAULT false;
ALTER TABLE file_versions ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;
CREATE INDEX file_versions_by_file_seq ON file_versions (file_id, seq);

-- Upload sessions commit into a bucket (wave-1 sessions: their owner's home bucket).
ALTER TABLE upload_sessions ADD COLUMN bucket_id bigint REFERENCES buckets(id)
    ON DELETE CASCADE;
UPDATE upload_sessions s SET bucket_id = b.id FROM buckets b WHERE b.home_of = s.owner_id;
ALTER TABLE upload_sessions ALTER COLUMN bucket_id SET NOT NULL;
ALTER TABLE upload_sessions ALTER COLUMN path TYPE text COLLATE "C";

-- Long operations (recursive deletes) as rows a background loop works through, so they
-- survive a master restart and any master can continue them.
CREATE TABLE tasks (
    id         uuid PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('delete_tree', 'delete_bucket')),
    bucket_id  bigint NOT NULL,           -- no FK: a bucket delete outlives its bucket row
    path       text COLLATE "C" NOT NULL, -- '' for a whole bucket
    created_by bigint REFERENCES users(id) ON DELETE SET NULL,
    state      text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done', 'failed')),
    done       bigint NOT NULL DEFAULT 0,
    total      bigint NOT NULL DEFAULT 0,
    error      text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tasks_running ON tasks (created_at) WHERE state = 'running';
