-- The consistency controller decides on their own only the files written *again*: an
-- overwrite or a new version of a file that existed before (issue 19). A file written
-- once takes the cluster-wide mode; deciding every new file every second cost PostgreSQL
-- more than the uploads' own commits. Counting versions cannot see an overwrite in an
-- unversioned bucket (its commit drops the replaced version), but the file row can: a
-- new file's row is inserted with created_at = updated_at (one transaction's now()),
-- and every later commit moves updated_at on. The partial index holds rewritten files
-- only, so finding the recent ones costs what there are of them, not every new file.
CREATE INDEX files_rewritten ON files (updated_at) WHERE updated_at > created_at;

-- Part of the controller's read model (0005): files written again, and when last.
CREATE VIEW controller_object_rewrites AS
SELECT id AS file_id, updated_at AS rewritten_at
FROM files
WHERE updated_at > created_at;
