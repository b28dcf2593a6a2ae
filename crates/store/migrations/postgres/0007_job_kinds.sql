-- One job system: a job has a kind (`score`: an image, `train`: a training run named in its
-- payload), so image_id is only set for scoring.
ALTER TABLE jobs ALTER COLUMN image_id DROP NOT NULL;
ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'score' CHECK (kind IN ('score', 'train'));
ALTER TABLE jobs ADD COLUMN payload TEXT;
ALTER TABLE jobs ADD CHECK ((kind = 'score') = (image_id IS NOT NULL));

-- Runs started before jobs had kinds have no job to carry them on.
UPDATE training_runs SET state = 'failed', error = 'the server was upgraded while this run was in progress; start the training again' WHERE state = 'running';
