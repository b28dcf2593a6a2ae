-- The history's group filter is case-insensitive and matches prefixes ("s-36" finds S-3602,
-- S-3618 …): a lower-cased copy of the group name, computed by the database, with an index
-- that a range (prefix ≤ key < prefix + U+10FFFF) reads. Byte order ("C"), so that a range
-- is a prefix whatever the database's collation.
ALTER TABLE images ADD COLUMN group_key TEXT COLLATE "C" GENERATED ALWAYS AS (lower(group_name)) STORED;
CREATE INDEX images_group_key ON images (group_key, id);

-- Who marked the record reviewed (the export's `reviewed_by`); filled from the audit log for
-- records reviewed before this column existed.
ALTER TABLE images ADD COLUMN reviewed_by TEXT;
UPDATE images SET reviewed_by = (
    SELECT a.actor FROM audit_log a
    WHERE a.image_id = images.id AND a.action = 'review' AND a.new_value = 'reviewed'
    ORDER BY a.id DESC LIMIT 1
) WHERE review_status = 'reviewed';
