-- +goose Up
-- Crypto-shredding, as in the embedded store's migration 9: each data
-- subject's key, sealed under its tenant's data key (NULL for subjects of
-- events indexed before); each link of an event to a subject holds the
-- subject's share of the event's key, and goes with the subject's key; the
-- payload holds the tenant's share. Erasing a subject deletes its key. A
-- key row's random id is named by its links, so that a link made with a
-- key erased meanwhile fails; rows of subjects indexed before have id 0.
--
-- VACUUM leaves a deleted row's bytes in its page's free space; only a
-- table's rewrite (VACUUM FULL) is sure to leave none. The keys are
-- spread over 64 partitions by hash, so that the rewrite after an erasure
-- takes one small partition, not every subject's key, and locks only it.
CREATE TABLE subject_keys (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    hash       BYTEA NOT NULL,
    key_id     BIGINT NOT NULL,
    sealed_key BYTEA,
    created_at BIGINT NOT NULL,
    -- One index: processes that meet a new subject at once may each store
    -- a key for it, and every link names the one it used.
    PRIMARY KEY (tenant_id, hash, key_id)
) PARTITION BY HASH (hash);
-- +goose StatementBegin
DO $$
BEGIN
    FOR i IN 0..63 LOOP
        EXECUTE format('CREATE TABLE subject_keys_%s PARTITION OF subject_keys
            FOR VALUES WITH (MODULUS 64, REMAINDER %s)', i, i);
    END LOOP;
END
$$;
-- +goose StatementEnd
INSERT INTO subject_keys (tenant_id, hash, key_id, sealed_key, created_at)
    SELECT DISTINCT tenant_id, hash, 0, NULL::bytea, 0 FROM subject_index;
ALTER TABLE subject_index ADD COLUMN key_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE subject_index ALTER COLUMN key_id DROP DEFAULT;
ALTER TABLE subject_index ADD COLUMN key_share BYTEA;
ALTER TABLE subject_index ADD CONSTRAINT subject_index_key FOREIGN KEY (tenant_id, hash, key_id)
    REFERENCES subject_keys (tenant_id, hash, key_id) ON DELETE CASCADE;
-- Links are keyed by event, in the order events are stored, so that new
-- events' links go to few index pages; the subjects' index finds the
-- events of a subject, and the links of a key as it is deleted.
ALTER TABLE subject_index DROP CONSTRAINT subject_index_pkey;
ALTER TABLE subject_index ADD PRIMARY KEY (event_id, hash);
DROP INDEX subject_index_event;
CREATE INDEX subject_index_subject ON subject_index (tenant_id, hash, key_id);
ALTER TABLE event_payloads ADD COLUMN key_share BYTEA;

-- +goose Down
ALTER TABLE event_payloads DROP COLUMN key_share;
DROP INDEX subject_index_subject;
ALTER TABLE subject_index DROP CONSTRAINT subject_index_pkey;
ALTER TABLE subject_index ADD PRIMARY KEY (tenant_id, hash, event_id);
CREATE INDEX subject_index_event ON subject_index (event_id);
ALTER TABLE subject_index DROP CONSTRAINT subject_index_key;
ALTER TABLE subject_index DROP COLUMN key_share;
ALTER TABLE subject_index DROP COLUMN key_id;
DROP TABLE subject_keys;
