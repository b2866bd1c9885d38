-- Svix's message fields beyond the payload (see `messages.rs`):
-- tags           JSON array of names, filterable like channels;
-- content_type   set for a raw payload (`transformationsParams.rawPayload`), sent byte for
--                byte with this Content-Type; NULL for a JSON payload;
-- deliver_at     the scheduled time, when the message was published with `deliverAt`;
-- payload_expires_at  when the payload alone is expunged (`payloadRetentionPeriod`/`Hours`);
-- expunged_at    when it was (by that expiry or `DELETE …/msg/{id}/content`); the payload
--                is then empty.
ALTER TABLE messages ADD COLUMN tags TEXT;
ALTER TABLE messages ADD COLUMN content_type TEXT;
ALTER TABLE messages ADD COLUMN deliver_at BIGINT;
ALTER TABLE messages ADD COLUMN payload_expires_at BIGINT;
ALTER TABLE messages ADD COLUMN expunged_at BIGINT;
CREATE INDEX messages_payload_expiry ON messages (payload_expires_at) WHERE payload_expires_at IS NOT NULL AND expunged_at IS NULL;
