-- Idempotency keys are kept for a day (see `retention.rs`); deleting the old ones by age needs
-- them in age order.
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
