-- History search and summaries over many records: one lower-cased text to match (file name,
-- serial, group), and one covering index, so counts, group summaries and searches read the
-- index instead of the table.
ALTER TABLE images ADD COLUMN search_text TEXT;
UPDATE images SET search_text = LOWER(filename || ' ' || COALESCE(serial, '') || ' ' || COALESCE(group_name, ''));
CREATE INDEX images_live ON images (deleted_at, group_name, review_status, search_text);
