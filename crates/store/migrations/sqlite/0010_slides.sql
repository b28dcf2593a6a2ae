-- Whole-slide images. `kind` says which path a record's file takes ('image' or 'slide');
-- `slide` holds a slide's metadata as JSON (vendor, levels, microns per pixel, objective
-- power, warnings), NULL for images.
ALTER TABLE images ADD COLUMN kind TEXT NOT NULL DEFAULT 'image';
ALTER TABLE images ADD COLUMN slide TEXT;
-- A slide being scored: JSON {"done": fields scored, "total": fields to score}.
ALTER TABLE images ADD COLUMN progress TEXT;

-- One row per scored field of a slide and model (grid fields, and regions a reviewer drew:
-- roi = 1). A slide's job writes each field as it is scored, so that a job taken over by
-- another worker goes on from there. raw and scores are JSON; error says why a field has none.
CREATE TABLE slide_fields (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    image_id     INTEGER NOT NULL REFERENCES images (id),
    model_id     TEXT    NOT NULL,
    roi          INTEGER NOT NULL DEFAULT 0,
    field_index  INTEGER NOT NULL,
    x            INTEGER NOT NULL,
    y            INTEGER NOT NULL,
    width        INTEGER NOT NULL,
    height       INTEGER NOT NULL,
    tissue_share REAL    NOT NULL,
    raw          TEXT,
    scores       TEXT,
    error        TEXT,
    created_by   TEXT    NOT NULL,
    created_at   TEXT    NOT NULL
);
CREATE UNIQUE INDEX slide_fields_key ON slide_fields (image_id, model_id, roi, field_index);

-- The physical size of one field a model scores on a slide, in µm (NULL: the default
-- assumption, the original's 4080 × 2776 px images at 0.5 µm/px = 2040 × 1388 µm).
ALTER TABLE models ADD COLUMN field_width_um REAL;
ALTER TABLE models ADD COLUMN field_height_um REAL;
