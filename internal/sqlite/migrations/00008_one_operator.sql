-- +goose Up
-- One operator key, as PostgreSQL's api_keys_operator index keeps: a
-- second is refused with a conflict instead of stored.
CREATE UNIQUE INDEX api_keys_operator ON api_keys (operator) WHERE operator = 1;

-- +goose Down
DROP INDEX api_keys_operator;
