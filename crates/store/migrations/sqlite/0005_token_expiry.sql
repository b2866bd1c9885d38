-- Application tokens made for the consumer portal expire (`POST /api/v1/auth/app-portal-access`);
-- those made with `hookd token create` have no expiry (NULL).
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
