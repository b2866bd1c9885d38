-- The index of pending deliveries by message now holds only those of FIFO endpoints, as on
-- SQLite since 0015: one index entry fewer for every other delivery stored or updated. It
-- could not before, because a publish could store a delivery with the `in_order` its endpoint
-- had when the batch read it, while an update changed `fifo` beside it. Now a publish batch
-- holds its applications' advisory lock, shared, and an update of an endpoint takes its
-- application's exclusively (see `integrity.rs`), so `in_order` follows `fifo`. Made right
-- first for any delivery that such a race left behind.
UPDATE deliveries SET in_order = e.fifo FROM endpoints e
    WHERE e.id = deliveries.endpoint_id AND deliveries.in_order <> e.fifo;
DROP INDEX deliveries_pending_in_order;
CREATE INDEX deliveries_pending_in_order ON deliveries (endpoint_id, msg_id)
    WHERE next_attempt_at IS NOT NULL AND in_order;
