-- A worker id is bound to the identity key it first registered with (DESIGN.md §15):
-- SHA-256 of the key, never the key. Rows registered before this migration bind on
-- their next registration.
ALTER TABLE workers ADD COLUMN identity_key_sha256 text;

-- Published for the consistency controller, which accepts writes from admins' tokens:
-- the user ids that hold the admin role, nothing else of the users table.
CREATE VIEW controller_admin_users AS SELECT id AS user_id FROM users WHERE is_admin;
