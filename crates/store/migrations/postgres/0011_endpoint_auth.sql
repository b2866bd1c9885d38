-- How hookd proves itself to the endpoint beyond signatures (see hookd-core's
-- `endpoint_auth`), as JSON; NULL: not used. They hold secrets and are never returned.
ALTER TABLE endpoints ADD COLUMN oauth TEXT;
ALTER TABLE endpoints ADD COLUMN mtls TEXT;
