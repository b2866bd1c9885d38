-- hookd schema v1 (SQLite). Times are milliseconds since the Unix epoch; JSON is stored as TEXT.

CREATE TABLE applications (
    id            TEXT PRIMARY KEY,
    uid           TEXT UNIQUE,
    name          TEXT NOT NULL,
    metadata      TEXT NOT NULL,
    throttle_rate BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE event_types (
    name         TEXT PRIMARY KEY,
    description  TEXT NOT NULL,
    schemas      TEXT,
    archived     BOOLEAN NOT NULL,
    deprecated   BOOLEAN NOT NULL,
    feature_flag TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE endpoints (
    id            TEXT PRIMARY KEY,
    app_id        TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    uid           TEXT,
    url           TEXT NOT NULL,
    description   TEXT NOT NULL,
    event_types   TEXT,
    channels      TEXT,
    disabled      BOOLEAN NOT NULL,
    metadata      TEXT NOT NULL,
    throttle_rate BIGINT,
    fifo          BOOLEAN NOT NULL,
    headers       TEXT NOT NULL,
    secret        TEXT NOT NULL,
    old_secrets   TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    CONSTRAINT endpoints_app_uid UNIQUE (app_id, uid)
);
CREATE INDEX endpoints_by_app ON endpoints (app_id, id);

CREATE TABLE messages (
    id         TEXT PRIMARY KEY,
    app_id     TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    event_id   TEXT,
    payload    TEXT NOT NULL,
    channels   TEXT,
    created_at BIGINT NOT NULL,
    CONSTRAINT messages_app_event_id UNIQUE (app_id, event_id)
);
CREATE INDEX messages_by_app ON messages (app_id, id);

-- The durable queue: one row per (message, endpoint). A row is due when next_attempt_at has
-- passed; claiming it pushes next_attempt_at forward by the lease length, so a claim whose
-- worker died simply becomes due again. Finished (and parked) rows have next_attempt_at NULL.
CREATE TABLE deliveries (
    msg_id          TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    endpoint_id     TEXT NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    app_id          TEXT NOT NULL,
    status          BIGINT NOT NULL,
    attempts        BIGINT NOT NULL,
    manual          BOOLEAN NOT NULL,
    next_attempt_at BIGINT,
    lease_token     TEXT,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (msg_id, endpoint_id)
);
CREATE INDEX deliveries_due_by_endpoint ON deliveries (endpoint_id, next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX deliveries_pending_in_order ON deliveries (endpoint_id, msg_id) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX deliveries_by_endpoint ON deliveries (endpoint_id, msg_id);

-- Work is handed out per endpoint: a node leases an endpoint's queue and works it alone, which
-- is what keeps a slow endpoint from delaying others and lets rate limits and FIFO ordering
-- hold across nodes. next_due_at is never later than the endpoint's earliest due delivery
-- (publishers lower it; the lease holder raises it only when it lets go, guarded by version).
CREATE TABLE endpoint_queues (
    endpoint_id   TEXT PRIMARY KEY REFERENCES endpoints (id) ON DELETE CASCADE,
    next_due_at   BIGINT,
    lease_until   BIGINT,
    lease_owner   TEXT,
    version       BIGINT NOT NULL,
    failing_since BIGINT
);
CREATE INDEX endpoint_queues_due ON endpoint_queues (next_due_at) WHERE next_due_at IS NOT NULL;

CREATE TABLE attempts (
    id                   TEXT PRIMARY KEY,
    msg_id               TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    endpoint_id          TEXT NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    app_id               TEXT NOT NULL,
    url                  TEXT NOT NULL,
    status               BIGINT NOT NULL,
    response_status_code BIGINT NOT NULL,
    response             TEXT NOT NULL,
    duration_ms          BIGINT NOT NULL,
    trigger_type         BIGINT NOT NULL,
    error                TEXT,
    created_at           BIGINT NOT NULL
);
CREATE INDEX attempts_by_msg ON attempts (msg_id, id);
CREATE INDEX attempts_by_endpoint ON attempts (endpoint_id, id);

CREATE TABLE idempotency_keys (
    scope       TEXT NOT NULL,
    key         TEXT NOT NULL,
    status_code BIGINT NOT NULL,
    body        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);

CREATE TABLE api_tokens (
    id         TEXT PRIMARY KEY,
    app_id     TEXT REFERENCES applications (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
