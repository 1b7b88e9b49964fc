-- +goose Up
-- Pseudonymous tokens a destination was sent, each with what resolves it:
-- its subject, sealed under the subject's own key. A row refers to that
-- key and goes with it, so erasing the subject (which deletes its key)
-- deletes its tokens' rows, and a copy of a row left anywhere the key is
-- not stays sealed.
CREATE TABLE pseudonyms (
    tenant_id      TEXT NOT NULL,
    destination_id TEXT NOT NULL,
    token          TEXT NOT NULL,
    hash           BLOB NOT NULL,
    key_id         INTEGER NOT NULL,
    sealed_subject BLOB NOT NULL,
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, destination_id, token),
    FOREIGN KEY (tenant_id, hash, key_id) REFERENCES subject_keys (tenant_id, hash, key_id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX pseudonyms_subject ON pseudonyms (tenant_id, hash, key_id);

-- +goose Down
DROP TABLE pseudonyms;
