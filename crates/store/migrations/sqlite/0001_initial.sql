-- Histoscore store, initial schema (SQLite).
-- Timestamps are UTC text in one fixed format (YYYY-MM-DDTHH:MM:SS.ffffffZ) written by the
-- application, so text order is time order on both backends.

CREATE TABLE images (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    filename      TEXT    NOT NULL,
    serial        TEXT,
    group_name    TEXT,
    image_number  INTEGER,
    sha256        TEXT    NOT NULL,
    size_bytes    INTEGER NOT NULL,
    width         INTEGER,
    height        INTEGER,
    format        TEXT,
    status        TEXT    NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'scoring', 'scored', 'failed')),
    error         TEXT,
    review_status TEXT    NOT NULL DEFAULT 'unreviewed'
                  CHECK (review_status IN ('unreviewed', 'reviewed')),
    version       INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL,
    updated_by    TEXT    NOT NULL,
    deleted_at    TEXT,
    storage_key   TEXT
);
CREATE INDEX images_filename   ON images (filename);
CREATE INDEX images_sha256     ON images (sha256);
CREATE INDEX images_group      ON images (group_name);
CREATE INDEX images_created_at ON images (created_at);
CREATE INDEX images_status     ON images (status, review_status);

CREATE TABLE drafts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    image_id    INTEGER NOT NULL REFERENCES images (id),
    model_id    TEXT    NOT NULL,
    model_demo  INTEGER NOT NULL DEFAULT 0,
    raw_outputs TEXT    NOT NULL, -- JSON object metric -> raw network output, schema order
    rounded     TEXT    NOT NULL, -- JSON object metric -> rounded score, schema order
    created_at  TEXT    NOT NULL
);
CREATE INDEX drafts_image ON drafts (image_id, id);
CREATE INDEX drafts_model ON drafts (model_id);

CREATE TABLE scores (
    image_id   INTEGER NOT NULL REFERENCES images (id),
    reader     TEXT    NOT NULL,
    phase      TEXT    NOT NULL,
    metric     TEXT    NOT NULL,
    value      REAL    NOT NULL,
    version    INTEGER NOT NULL, -- the image version this value was written at
    updated_at TEXT    NOT NULL,
    updated_by TEXT    NOT NULL,
    PRIMARY KEY (image_id, reader, phase, metric)
);

CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        TEXT    NOT NULL,
    actor     TEXT    NOT NULL,
    image_id  INTEGER REFERENCES images (id),
    action    TEXT    NOT NULL,
    field     TEXT,
    old_value TEXT,
    new_value TEXT,
    reason    TEXT
);
CREATE INDEX audit_log_image ON audit_log (image_id, id);

CREATE TABLE jobs (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    image_id   INTEGER NOT NULL REFERENCES images (id),
    state      TEXT    NOT NULL DEFAULT 'queued'
               CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    locked_by  TEXT,
    locked_at  TEXT,
    heartbeat  TEXT,
    error      TEXT,
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL
);
CREATE INDEX jobs_state ON jobs (state, id);
CREATE INDEX jobs_image ON jobs (image_id);

-- The audit log is append-only and drafts are immutable: the database itself refuses.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER drafts_no_update BEFORE UPDATE ON drafts
BEGIN
    SELECT RAISE(ABORT, 'drafts are immutable');
END;
