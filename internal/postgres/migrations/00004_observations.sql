-- +goose Up
-- The shape of what flows, for the data map and schema-drift alerts: per
-- source ('' for published events) and event type, that the type was seen
-- (kind 'type', name ''), the JSON field paths of its payloads (kind
-- 'field') and the subject types indexed for it (kind 'subject'). Names
-- and paths only, never values.
CREATE TABLE observations (
    tenant_id  TEXT NOT NULL,
    source_id  TEXT NOT NULL,
    event_type TEXT NOT NULL,
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, source_id, event_type, kind, name)
);

-- +goose Down
DROP TABLE observations;
