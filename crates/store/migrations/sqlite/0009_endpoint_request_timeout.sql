-- An endpoint's own request timeout in milliseconds (at most the server's); NULL: the
-- server's `--request-timeout`.
ALTER TABLE endpoints ADD COLUMN request_timeout_ms BIGINT;
