-- Records imported from another system (the original's image_scores table): the source row
-- each came from, so that running the import again adds nothing twice.
CREATE TABLE imports (
    source      TEXT    NOT NULL, -- 'original'
    source_id   TEXT    NOT NULL, -- the source's row id
    image_id    INTEGER NOT NULL REFERENCES images (id),
    imported_at TEXT    NOT NULL,
    imported_by TEXT    NOT NULL,
    PRIMARY KEY (source, source_id)
);
CREATE INDEX imports_image ON imports (image_id);

-- What a person must check on a record: JSON object metric -> problem (e.g. an imported value
-- outside the schema's range). NULL when there is nothing; a metric's entry goes when a person
-- sets that metric.
ALTER TABLE images ADD COLUMN flags TEXT;

-- API tokens for scripts: only a hash is stored; the token acts as its account, with the
-- account's role.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users (id),
    name         TEXT    NOT NULL,
    token_hash   TEXT    NOT NULL UNIQUE,
    created_at   TEXT    NOT NULL,
    expires_at   TEXT,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);
