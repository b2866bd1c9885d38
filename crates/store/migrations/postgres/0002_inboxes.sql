-- hookd schema v2 (PostgreSQL): webhook tester inboxes and the requests they captured.

CREATE TABLE inboxes (
    id                TEXT COLLATE "C" PRIMARY KEY,
    name              TEXT,
    -- whsec_… to check signatures with, if any.
    secret            TEXT,
    -- An endpoint whose current and rotated secrets also check signatures.
    endpoint_id       TEXT COLLATE "C" REFERENCES endpoints (id) ON DELETE SET NULL,
    response_status   BIGINT NOT NULL,
    response_headers  TEXT NOT NULL,
    response_body     TEXT NOT NULL,
    response_delay_ms BIGINT NOT NULL,
    max_requests      BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX inboxes_by_expiry ON inboxes (expires_at);

-- headers: JSON list of [name, value] in arrival order. body: the bytes as received (empty when
-- refused_reason says why it was not read). signature_verified is NULL when there was no
-- secret to check with.
CREATE TABLE inbox_requests (
    id                 TEXT COLLATE "C" PRIMARY KEY,
    inbox_id           TEXT COLLATE "C" NOT NULL REFERENCES inboxes (id) ON DELETE CASCADE,
    method             TEXT NOT NULL,
    path               TEXT NOT NULL,
    query              TEXT NOT NULL,
    headers            TEXT NOT NULL,
    body               BYTEA NOT NULL,
    body_size          BIGINT NOT NULL,
    client_addr        TEXT,
    refused_reason     TEXT,
    signature_verified BOOLEAN,
    signature_error    TEXT,
    created_at         BIGINT NOT NULL
);
CREATE INDEX inbox_requests_by_inbox ON inbox_requests (inbox_id, id);
