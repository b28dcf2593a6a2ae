-- Reader studies that hold up to a methods section.
-- A study-local code for each image (what a blinded reader sees instead of the file name and
-- group), numbered in a random order when the images are added.
ALTER TABLE study_images ADD COLUMN code TEXT;
UPDATE study_images SET code = CAST(study_id AS TEXT) || '-' || CAST(image_id AS TEXT);
-- The seed of every reader's own random reading order (recorded, so that each order can be
-- reproduced).
ALTER TABLE studies ADD COLUMN order_seed BIGINT NOT NULL DEFAULT 0;
UPDATE studies SET order_seed = id;
-- Time on task counts active viewing (the page visible and in use), before and after the
-- blind score, in milliseconds.
ALTER TABLE study_reads ADD COLUMN active_blind_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE study_reads ADD COLUMN active_after_ms BIGINT NOT NULL DEFAULT 0;

-- The physical pixel size of an ordinary image (from its TIFF or PNG resolution tags), for
-- the viewer's scale bar; NULL when the file does not say (slides keep theirs in `slide`).
ALTER TABLE images ADD COLUMN pixel_size_um DOUBLE PRECISION;
