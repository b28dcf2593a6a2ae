-- Automated retraining: the policy (one row), the evaluation set (append-only: the latest row
-- is the current one; its groups are never trained on), and each comparison of a newly trained
-- model (challenger) with the model active at the time (champion). Which groups are in the
-- evaluation set is decided by a seeded hash of their names, so later groups fall on a fixed side.
CREATE TABLE retrain_policy (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    after_reviewed INTEGER,            -- retrain after this many newly reviewed images; NULL: off
    every_hours    INTEGER,            -- and/or every this many hours; NULL: off
    head_only      INTEGER NOT NULL DEFAULT 0,
    layers         TEXT    NOT NULL,   -- JSON list of the layers a fine-tune trains
    auto_promote   INTEGER NOT NULL DEFAULT 0,
    metrics        TEXT    NOT NULL,   -- JSON list of the metrics that must improve; [] = all
    updated_by     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL
);
CREATE TABLE evaluation_sets (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    share     REAL NOT NULL,        -- about this share of all sample groups is in the set
    seed      INTEGER NOT NULL,        -- the seed of the hash that decides which
    groups    TEXT    NOT NULL,        -- JSON list of groups in the set besides those
    trained   TEXT    NOT NULL,        -- JSON list of groups trained on before: never in it
    reason    TEXT    NOT NULL,
    chosen_by TEXT    NOT NULL,
    chosen_at TEXT    NOT NULL
);
CREATE TABLE model_evaluations (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id          TEXT    NOT NULL REFERENCES models (id),
    champion_id       TEXT    REFERENCES models (id),
    evaluation_set_id INTEGER REFERENCES evaluation_sets (id),
    run_id            INTEGER,
    verdict           TEXT    NOT NULL,
    report            TEXT    NOT NULL,
    created_at        TEXT    NOT NULL
);
CREATE INDEX model_evaluations_model ON model_evaluations (model_id, id);
-- Who started a training run: a person ('manual') or the retraining policy ('policy'); at most
-- one policy run at a time, whichever process starts it.
ALTER TABLE training_runs ADD COLUMN origin TEXT NOT NULL DEFAULT 'manual'
    CHECK (origin IN ('manual', 'policy'));
CREATE UNIQUE INDEX training_runs_one_policy_run ON training_runs (origin)
    WHERE state = 'running' AND origin = 'policy';
-- A reader study keeps the AI draft it was made with: the image's latest draft when it was
-- added (NULL: none yet; its first draft counts). Existing studies keep today's drafts.
ALTER TABLE study_images ADD COLUMN draft_id INTEGER REFERENCES drafts (id);
UPDATE study_images SET draft_id = (SELECT MAX(d.id) FROM drafts d WHERE d.image_id = study_images.image_id);
