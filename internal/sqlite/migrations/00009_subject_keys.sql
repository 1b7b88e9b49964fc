-- +goose NO TRANSACTION
-- +goose Up
-- Crypto-shredding. Each data subject gets a key of its own, sealed under
-- its tenant's data key. A payload that names subjects is sealed under a
-- key of its own (an event key), which only its shares rebuild: one share
-- per subject, sealed under that subject's key and kept on the event's link
-- to the subject, and one sealed under the tenant's key, kept with the
-- payload. Erasing a subject deletes its key, and with it (ON DELETE
-- CASCADE) its links: every payload naming the subject can no longer be
-- opened, whatever copy of its bytes is left.
--
-- A key row has a random id, which its links name: a subject erased and
-- seen again gets a new key under a new id, and a link made with the old
-- key (by a process that kept it) names a row that is gone, and fails.
--
-- The subjects of events indexed before have no key (sealed_key NULL, id
-- 0): their payloads stay sealed under the tenant's key, and their links
-- get a key row so that every link has one.
--
-- subject_index is rebuilt to refer to subject_keys, with foreign keys off,
-- which SQLite allows only outside a transaction, hence the explicit one.
PRAGMA foreign_keys = OFF;
BEGIN;

CREATE TABLE subject_keys (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    hash       BLOB NOT NULL,
    key_id     INTEGER NOT NULL,
    sealed_key BLOB, -- sealed under the tenant's data key; NULL for subjects indexed before
    created_at INTEGER NOT NULL,
    -- One index: processes that meet a new subject at once may each store
    -- a key for it, and every link names the one it used.
    PRIMARY KEY (tenant_id, hash, key_id)
) WITHOUT ROWID;
INSERT INTO subject_keys (tenant_id, hash, key_id, sealed_key, created_at)
    SELECT DISTINCT tenant_id, hash, 0, NULL, 0 FROM subject_index;

-- The links are kept by event, in the order events are stored, so that a
-- commit of new events writes their links into few pages; the subjects'
-- index (by tenant, hash and key) finds the events of a subject, and the
-- links of a key as it is deleted.
CREATE TABLE subject_index_new (
    event_id  TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    hash      BLOB NOT NULL,
    tenant_id TEXT NOT NULL,
    key_id    INTEGER NOT NULL,
    key_share BLOB, -- the subject's share of the event key, sealed under the subject's key
    PRIMARY KEY (event_id, hash),
    FOREIGN KEY (tenant_id, hash, key_id) REFERENCES subject_keys (tenant_id, hash, key_id) ON DELETE CASCADE
) WITHOUT ROWID;
INSERT INTO subject_index_new (event_id, hash, tenant_id, key_id) SELECT event_id, hash, tenant_id, 0 FROM subject_index;
DROP TABLE subject_index;
ALTER TABLE subject_index_new RENAME TO subject_index;
CREATE INDEX subject_index_subject ON subject_index (tenant_id, hash, key_id);

-- The tenant's share of the event key, sealed under the tenant's data key;
-- NULL for a payload sealed under the tenant's key itself.
ALTER TABLE event_payloads ADD COLUMN key_share BLOB;

COMMIT;
PRAGMA foreign_keys = ON;

-- +goose Down
PRAGMA foreign_keys = OFF;
BEGIN;
ALTER TABLE event_payloads DROP COLUMN key_share;
CREATE TABLE subject_index_old (
    tenant_id TEXT NOT NULL,
    hash      BLOB NOT NULL,
    event_id  TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    PRIMARY KEY (tenant_id, hash, event_id)
) WITHOUT ROWID;
INSERT INTO subject_index_old (tenant_id, hash, event_id) SELECT tenant_id, hash, event_id FROM subject_index;
DROP TABLE subject_index;
ALTER TABLE subject_index_old RENAME TO subject_index;
CREATE INDEX subject_index_event ON subject_index (event_id);
DROP TABLE subject_keys;
COMMIT;
PRAGMA foreign_keys = ON;
