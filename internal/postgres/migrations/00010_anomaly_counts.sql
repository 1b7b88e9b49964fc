-- +goose Up
-- Anomaly counts shared by the processes on this database, per key (kind,
-- tenant, source and event type: ids and a type, never a value) and part
-- of a window (its start, in ms), so that each judges bursts and
-- verification failures on the traffic of all. Counts live seconds and
-- matter only while they do: the table is unlogged, and emptied by a
-- crash.
CREATE UNLOGGED TABLE anomaly_counts (
    key TEXT NOT NULL,
    part BIGINT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (key, part)
);
CREATE INDEX anomaly_counts_part ON anomaly_counts (part);

-- +goose Down
DROP TABLE anomaly_counts;
