-- An endpoint's payload filter, a CEL expression over the message (see hookd-core's
-- `filter`); NULL: every message it subscribes to.
ALTER TABLE endpoints ADD COLUMN filter TEXT;

-- Messages an endpoint's filter kept from it, counted per hour of publication: a filtered
-- message creates no delivery row, so this is all that records it. `errors` counts those the
-- filter failed on (and so also kept back).
CREATE TABLE endpoint_filtered (
    endpoint_id TEXT NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    hour        BIGINT NOT NULL,
    filtered    BIGINT NOT NULL,
    errors      BIGINT NOT NULL,
    PRIMARY KEY (endpoint_id, hour)
);
