-- A delivery says whether its endpoint delivers in order (`endpoints.fifo`), so that the
-- index a FIFO endpoint's claims read (its pending deliveries by message) holds only the
-- deliveries of FIFO endpoints. Every other pending delivery was one more index entry, in a
-- page of its own endpoint's range, which every commit that added one wrote to the log again
-- whole: one of the three such pages per endpoint behind, per publish (BENCHMARKS.md, "Fan-out
-- to endpoints that are behind, on a slow disk"). The column is set from the endpoint when a
-- delivery is stored, and on all of an endpoint's deliveries when its `fifo` changes.
ALTER TABLE deliveries ADD COLUMN in_order BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE deliveries SET in_order = TRUE WHERE endpoint_id IN (SELECT id FROM endpoints WHERE fifo);
DROP INDEX deliveries_pending_in_order;
CREATE INDEX deliveries_pending_in_order ON deliveries (endpoint_id, msg_id)
    WHERE next_attempt_at IS NOT NULL AND in_order;
