-- Accounts, sessions, studies with per-reader (blind and revised) scores, and the study an
-- audit row belongs to.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL UNIQUE,
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'pathologist', 'viewer')),
    password_hash TEXT    NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL
);

-- Only a hash of the session token is stored: a copy of the database logs nobody in.
CREATE TABLE sessions (
    token_hash TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    csrf_token TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    expires_at TEXT    NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE login_failures (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    name    TEXT    NOT NULL,
    address TEXT    NOT NULL,
    at      TEXT    NOT NULL
);
CREATE INDEX login_failures_name ON login_failures (name, at);
CREATE INDEX login_failures_address ON login_failures (address, at);

CREATE TABLE studies (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    name           TEXT    NOT NULL,
    description    TEXT    NOT NULL DEFAULT '',
    blinded        INTEGER NOT NULL,
    require_reason INTEGER NOT NULL,
    created_at     TEXT    NOT NULL,
    created_by     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL
);

CREATE TABLE study_images (
    study_id INTEGER NOT NULL REFERENCES studies (id),
    image_id INTEGER NOT NULL REFERENCES images (id),
    added_at TEXT    NOT NULL,
    PRIMARY KEY (study_id, image_id)
);

CREATE TABLE study_readers (
    study_id INTEGER NOT NULL REFERENCES studies (id),
    reader   TEXT    NOT NULL,
    PRIMARY KEY (study_id, reader)
);

-- One reader's work on one image of a study: when they first opened it, submitted their
-- first score (in a blinded study: the blind score, which reveals the AI draft) and last
-- revised it.
CREATE TABLE study_reads (
    study_id     INTEGER NOT NULL REFERENCES studies (id),
    image_id     INTEGER NOT NULL REFERENCES images (id),
    reader       TEXT    NOT NULL,
    opened_at    TEXT    NOT NULL,
    submitted_at TEXT,
    revised_at   TEXT,
    PRIMARY KEY (study_id, image_id, reader)
);

CREATE TABLE study_scores (
    study_id   INTEGER NOT NULL REFERENCES studies (id),
    image_id   INTEGER NOT NULL REFERENCES images (id),
    reader     TEXT    NOT NULL,
    phase      TEXT    NOT NULL CHECK (phase IN ('blind', 'revised')),
    metric     TEXT    NOT NULL,
    value      REAL    NOT NULL,
    updated_at TEXT    NOT NULL,
    PRIMARY KEY (study_id, image_id, reader, phase, metric)
);

-- Blind scores are the study's record of what a reader saw before the AI: never changed.
CREATE TRIGGER study_scores_blind_no_update BEFORE UPDATE ON study_scores
WHEN OLD.phase = 'blind'
BEGIN
    SELECT RAISE(ABORT, 'blind scores are immutable');
END;

ALTER TABLE audit_log ADD COLUMN study_id INTEGER;
CREATE INDEX audit_log_study ON audit_log (study_id, id);
