-- One owner per running job. `owner` is the engine that runs it (an id of its own, new for each run or pick-up);
-- `beats` counts how often that engine has said it is alive. Another engine takes a job over only when the count
-- stood still while it watched — whatever the wall clock did meanwhile — and an engine writes an action's verdict
-- or the job's end only while it owns the job.
ALTER TABLE jobs ADD COLUMN owner TEXT;
ALTER TABLE jobs ADD COLUMN beats INTEGER NOT NULL DEFAULT 0;
