-- One job system: a job has a kind (`score`: an image, `train`: a training run named in its
-- payload), so image_id is only set for scoring. SQLite cannot drop NOT NULL in place: the
-- table is rebuilt with the same columns, in PostgreSQL's order.
CREATE TABLE jobs_new (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    image_id   INTEGER REFERENCES images (id),
    state      TEXT    NOT NULL DEFAULT 'queued'
               CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    locked_by  TEXT,
    locked_at  TEXT,
    heartbeat  TEXT,
    error      TEXT,
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL,
    model_id   TEXT,
    kind       TEXT    NOT NULL DEFAULT 'score' CHECK (kind IN ('score', 'train')),
    payload    TEXT,
    CHECK ((kind = 'score') = (image_id IS NOT NULL))
);
INSERT INTO jobs_new (id, image_id, state, attempts, locked_by, locked_at, heartbeat, error,
                      created_at, updated_at, model_id, kind)
SELECT id, image_id, state, attempts, locked_by, locked_at, heartbeat, error, created_at,
       updated_at, model_id, 'score'
FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;
CREATE INDEX jobs_state ON jobs (state, id);
CREATE INDEX jobs_image ON jobs (image_id);

-- Runs started before jobs had kinds have no job to carry them on.
UPDATE training_runs SET state = 'failed', error = 'the server was upgraded while this run was in progress; start the training again' WHERE state = 'running';
