-- Idempotency keys are stored under a digest of (scope, key) (see idempotency.rs): a small
-- primary key, since every key lands on a random page of it. The keys stored before are
-- carried over under their digests by migrate.rs, which then drops the
-- old table.
ALTER TABLE idempotency_keys RENAME TO idempotency_keys_by_name;
DROP INDEX idempotency_keys_by_age;
CREATE TABLE idempotency_keys (
    digest      TEXT PRIMARY KEY,
    status_code BIGINT NOT NULL,
    body        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
