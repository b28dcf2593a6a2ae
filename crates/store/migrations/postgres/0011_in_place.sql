-- Files registered in place (`histoscore import --in-place`): the file stays where it is
-- (a slide library on a mounted share); its path, size and modification time (milliseconds
-- since 1970) are recorded so that a changed or missing file is reported, never silently
-- re-scored. NULL for files kept in the blob store.
ALTER TABLE images ADD COLUMN source_path TEXT;
ALTER TABLE images ADD COLUMN source_size BIGINT;
ALTER TABLE images ADD COLUMN source_mtime_ms BIGINT;
CREATE INDEX images_source_path ON images (source_path);
