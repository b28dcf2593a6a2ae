-- The model registry, which model is active (a log of activations), per-draft uncertainty, and
-- re-scoring with a chosen model.

CREATE TABLE models (
    id            TEXT    PRIMARY KEY, -- derived from the weights (histoscore model inspect)
    name          TEXT    NOT NULL,
    sha256        TEXT    NOT NULL,    -- of the stored file
    format        TEXT    NOT NULL CHECK (format IN ('pth', 'safetensors')),
    storage_key   TEXT    NOT NULL,
    schema_json   TEXT    NOT NULL,
    parent_id     TEXT    REFERENCES models (id),
    training_json TEXT,
    metrics_json  TEXT,
    source        TEXT    NOT NULL CHECK (source IN ('import', 'trained')),
    created_at    TEXT    NOT NULL,
    created_by    TEXT    NOT NULL
);

-- Append-only: the active model is the one of the latest row.
CREATE TABLE model_activations (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id TEXT    NOT NULL REFERENCES models (id),
    at       TEXT    NOT NULL,
    actor    TEXT    NOT NULL,
    reason   TEXT
);

-- Per metric: spread of the score under test-time augmentation (JSON object, score units).
ALTER TABLE drafts ADD COLUMN uncertainty TEXT;
-- The largest of those for the latest draft, so lists can be ordered least-confident first.
ALTER TABLE images ADD COLUMN uncertainty REAL;
CREATE INDEX images_uncertainty ON images (uncertainty);
-- Re-scoring with a chosen model; NULL means the active one.
ALTER TABLE jobs ADD COLUMN model_id TEXT;
