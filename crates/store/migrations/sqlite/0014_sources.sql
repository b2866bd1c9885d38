-- Sources: a provider's webhooks arrive at /in/{token}, are verified as the source's type
-- says, and become messages of the source's own application (app_id), delivered to its
-- endpoints by the engine. `config` is the type's settings as JSON, sealed (it holds the
-- provider's secret). `allow_private`: the source's endpoints may be on private addresses.
CREATE TABLE sources (
    id            TEXT PRIMARY KEY,
    uid           TEXT UNIQUE,
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL,
    config        TEXT NOT NULL,
    metadata      TEXT NOT NULL,
    token         TEXT NOT NULL UNIQUE,
    app_id        TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    allow_private BOOLEAN NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX sources_by_app ON sources (app_id);

-- Requests a source refused (failed verification, unreadable): never delivered, kept to be
-- looked at (Svix's ingest log).
CREATE TABLE ingest_refusals (
    id          TEXT PRIMARY KEY,
    source_id   TEXT NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    status_code BIGINT NOT NULL,
    error_text  TEXT NOT NULL,
    method      TEXT NOT NULL,
    path        TEXT NOT NULL,
    query       TEXT NOT NULL,
    headers     TEXT NOT NULL,
    payload     TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX ingest_refusals_by_source ON ingest_refusals (source_id, id);

-- A message ingested by a source carries the request it came as (method, sub-path, query,
-- headers to pass on, as JSON); NULL for a published message.
ALTER TABLE messages ADD COLUMN request TEXT;

-- Copied from the endpoint's source (see sources.allow_private); FALSE for an application's.
ALTER TABLE endpoints ADD COLUMN allow_private BOOLEAN NOT NULL DEFAULT FALSE;
