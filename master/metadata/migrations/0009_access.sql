-- Access (DESIGN.md §12, issue 17): groups, bucket shares and API keys.
--
-- Permission on a bucket is decided in one place (master/services/access.py) from the
-- bucket's owner, these share rows and the caller's API key scope. Nothing here is
-- cached by a master beyond one request: a share, a membership or a key revoked here is
-- in force on every master from the next request on.

-- Groups of users. Managed by their creator and by admins (services/groups.py).
CREATE TABLE groups (
    id         bigserial PRIMARY KEY,
    -- The username rule: 3-64 of letters, digits, _ . -
    name       text COLLATE "C" NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9_.-]{3,64}$'),
    created_by bigint REFERENCES users(id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE group_members (
    group_id bigint NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id  bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, user_id)
);
-- "Which groups is this user in": every permission check of a shared bucket asks it.
CREATE INDEX group_members_by_user ON group_members (user_id, group_id);

-- A bucket shared with one user or one group as ro, rw or rwd (owner is not grantable:
-- the owner is buckets.owner_id). A user's permission is the strongest of its own share
-- and its groups' shares.
CREATE TABLE bucket_shares (
    id         bigserial PRIMARY KEY,
    bucket_id  bigint NOT NULL REFERENCES buckets(id) ON DELETE CASCADE,
    user_id    bigint REFERENCES users(id) ON DELETE CASCADE,
    group_id   bigint REFERENCES groups(id) ON DELETE CASCADE,
    permission text NOT NULL CHECK (permission IN ('ro', 'rw', 'rwd')),
    granted_by bigint REFERENCES users(id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((user_id IS NULL) <> (group_id IS NULL))
);
CREATE UNIQUE INDEX bucket_shares_one_per_user ON bucket_shares (bucket_id, user_id)
    WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX bucket_shares_one_per_group ON bucket_shares (bucket_id, group_id)
    WHERE group_id IS NOT NULL;
-- "Which buckets can this user reach" (bucket listing, the event feed).
CREATE INDEX bucket_shares_by_user ON bucket_shares (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX bucket_shares_by_group ON bucket_shares (group_id) WHERE group_id IS NOT NULL;

-- The rank of a share's permission (ro 1 < rw 2 < rwd 3), the one place it is spelled.
CREATE FUNCTION echofs_share_rank(permission text) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE permission WHEN 'ro' THEN 1 WHEN 'rw' THEN 2 WHEN 'rwd' THEN 3 END
$$;

-- API keys (DESIGN §12). key_id is public (the S3 access key id). The bearer token is
-- stored only as its SHA-256 (it carries 256 random bits, so a fast hash is enough and a
-- lookup needs no decryption). The secret (the S3 secret key, which SigV4 needs in
-- clear) is stored only encrypted: AES-256-GCM under the server's KEY_ENCRYPTION_KEY,
-- nonce || ciphertext || tag, with key_id as associated data; kek_id names the server key
-- that sealed it, so a wrong or rotated key is recognised rather than guessed at.
CREATE TABLE api_keys (
    key_id            text PRIMARY KEY CHECK (key_id ~ '^EK[A-Z2-7]{18}$'),
    user_id           bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    scope             text NOT NULL CHECK (scope IN ('ro', 'rw', 'admin')),
    bucket_ids        bigint[],            -- NULL: every bucket its user can reach
    token_sha256      bytea NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    secret_sealed     bytea NOT NULL,
    kek_id            text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz,         -- NULL: does not expire
    revoked_at        timestamptz
);
CREATE INDEX api_keys_by_user ON api_keys (user_id, created_at);
