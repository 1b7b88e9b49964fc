-- +goose Up
-- Where an event's payload carries its subjects (JSON: paths and types,
-- never values), so that the values of a subject type a tenant restricts
-- as personal data are withheld from destinations without a grant. NULL
-- when it carries none that were found.
ALTER TABLE events ADD COLUMN subject_paths TEXT;

-- +goose Down
ALTER TABLE events DROP COLUMN subject_paths;
