-- The change feed (server-sent events across processes) reads images by updated_at.
CREATE INDEX images_updated_at ON images (updated_at);

-- When the image was last marked reviewed (NULL while unreviewed), for exports.
ALTER TABLE images ADD COLUMN reviewed_at TEXT;
