-- +goose Up
-- Data key rotation. A tenant's newest data key seals its new values; the
-- others only open what they sealed, until nothing sealed under them is
-- left and they are deleted.
--
-- wrapped_subject: the tenant's subject key (which keys the hashes of its
-- subjects and dedup keys, and must outlive the data key it was derived
-- from), wrapped by the master key for this data key; NULL for a tenant's
-- first data key, from which it is derived.
-- seal_count: how many values the key sealed, as far as the processes have
-- added their counts; the key is rotated when it passes the limit.
-- held_until: when the payloads sealed under a rotated key have all
-- expired; NULL until a retirement pass looked.
ALTER TABLE data_keys ADD COLUMN wrapped_subject BLOB;
ALTER TABLE data_keys ADD COLUMN seal_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE data_keys ADD COLUMN held_until INTEGER;

-- +goose Down
ALTER TABLE data_keys DROP COLUMN held_until;
ALTER TABLE data_keys DROP COLUMN seal_count;
ALTER TABLE data_keys DROP COLUMN wrapped_subject;
