-- Training runs started from the API: parameters, progress (updated every epoch), outcome, and
-- a cancel request any process can set.
CREATE TABLE training_runs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    state            TEXT    NOT NULL DEFAULT 'running'
                     CHECK (state IN ('running', 'done', 'failed', 'cancelled')),
    params           TEXT    NOT NULL,
    progress         TEXT,
    error            TEXT,
    model_id         TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    owner            TEXT    NOT NULL,
    created_by       TEXT    NOT NULL,
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL
);
