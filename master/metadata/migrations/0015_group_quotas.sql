-- Group quotas (DESIGN.md §12, issue 17): a bucket may be charged to a group.
--
-- ``buckets.group_id`` names the group a bucket is charged to (NULL: none). Its usage
-- then counts in three counters: the bucket's, its owner's (a user's usage stays "every
-- bucket the user owns", so a group bucket is no way around a user quota) and the
-- group's. A group's quota (usage_counters scope 'group', set by admins) caps the total
-- of the buckets charged to it. Charging is about space only: who may read or write a
-- group bucket is still decided by its owner and its shares (migration 0009).
--
-- The counters stay exact the way migration 0010 keeps them: usage_scopes gains the
-- group branch (so the version and file triggers count group buckets with no change of
-- their own), a bucket moved to another group takes its usage along (checked against the
-- new group's quota at commit, like any increase), and a group's counter row lives and
-- dies with the group.

ALTER TABLE buckets ADD COLUMN group_id bigint REFERENCES groups(id) ON DELETE SET NULL;
CREATE INDEX buckets_by_group ON buckets (group_id) WHERE group_id IS NOT NULL;

CREATE OR REPLACE VIEW usage_scopes AS
    SELECT b.id AS bucket_id, 'bucket'::text AS scope, b.id AS scope_id FROM buckets b
    UNION ALL
    SELECT b.id, 'user'::text, b.owner_id FROM buckets b
    UNION ALL
    SELECT b.id, 'group'::text, b.group_id FROM buckets b WHERE b.group_id IS NOT NULL;

-- A bucket charged to another group (or to none). When the old group is being deleted
-- (ON DELETE SET NULL lands here), its counter row goes with it: nothing to subtract.
CREATE FUNCTION echofs_usage_bucket_group() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM echofs_usage_add(array_agg(t.scope), array_agg(t.scope_id),
                             array_agg(t.bytes), array_agg(t.files))
    FROM usage_counters c,
         LATERAL (VALUES ('group', OLD.group_id, -c.bytes, -c.files),
                         ('group', NEW.group_id, c.bytes, c.files))
             AS t(scope, scope_id, bytes, files)
    WHERE c.scope = 'bucket' AND c.scope_id = NEW.id AND t.scope_id IS NOT NULL
      AND EXISTS (SELECT 1 FROM groups g WHERE g.id = t.scope_id);
    RETURN NULL;
END
$$;

CREATE FUNCTION echofs_usage_group_created() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO usage_counters (scope, scope_id) VALUES ('group', NEW.id)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

CREATE FUNCTION echofs_usage_groups_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM usage_counters WHERE scope = 'group' AND scope_id IN (SELECT id FROM gone);
    RETURN NULL;
END
$$;

-- The commit-time check of 0010, naming groups in its refusal too.
CREATE OR REPLACE FUNCTION echofs_usage_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    c usage_counters;
    label text;
BEGIN
    SELECT * INTO c FROM usage_counters WHERE scope = NEW.scope AND scope_id = NEW.scope_id;
    IF NOT FOUND OR c.base_xid IS DISTINCT FROM pg_current_xact_id() THEN
        RETURN NULL;
    END IF;
    IF (c.bytes > c.base_bytes AND c.bytes > c.quota_bytes)
       OR (c.files > c.base_files AND c.files > c.quota_files) THEN
        label := CASE c.scope
            WHEN 'bucket' THEN (SELECT name FROM buckets WHERE id = c.scope_id)
            WHEN 'user' THEN (SELECT username FROM users WHERE id = c.scope_id)
            WHEN 'group' THEN (SELECT name FROM groups WHERE id = c.scope_id)
            ELSE c.scope_id::text END;
        RAISE EXCEPTION USING
            ERRCODE = 'EQ507',
            MESSAGE = format('the %s quota of %s is exceeded', c.scope, label),
            DETAIL = json_build_object(
                'scope', c.scope, 'name', label,
                'used_bytes', c.base_bytes, 'used_files', c.base_files,
                'adding_bytes', c.bytes - c.base_bytes, 'adding_files', c.files - c.base_files,
                'quota_bytes', c.quota_bytes, 'quota_files', c.quota_files)::text;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER usage_bucket_group AFTER UPDATE OF group_id ON buckets
    FOR EACH ROW WHEN (OLD.group_id IS DISTINCT FROM NEW.group_id)
    EXECUTE FUNCTION echofs_usage_bucket_group();
CREATE TRIGGER usage_group_created AFTER INSERT ON groups
    FOR EACH ROW EXECUTE FUNCTION echofs_usage_group_created();
CREATE TRIGGER usage_groups_deleted AFTER DELETE ON groups
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION echofs_usage_groups_deleted();

-- Every existing group gets its (empty) counter: no bucket is charged to one yet.
INSERT INTO usage_counters (scope, scope_id) SELECT 'group', id FROM groups
ON CONFLICT DO NOTHING;
