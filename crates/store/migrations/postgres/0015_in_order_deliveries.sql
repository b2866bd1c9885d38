-- A delivery says whether its endpoint delivers in order (`endpoints.fifo`). On SQLite the
-- index of pending deliveries by message then holds only FIFO endpoints' (see the SQLite
-- migration of the same number). PostgreSQL keeps its index of every pending delivery: there
-- a publish reads its routes and stores its deliveries while an endpoint's `fifo` may change
-- in a transaction beside it, so the column could be stale, and a FIFO claim must not miss a
-- delivery for it. The column is kept the same way on both, so that the code is one.
ALTER TABLE deliveries ADD COLUMN in_order BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE deliveries SET in_order = TRUE WHERE endpoint_id IN (SELECT id FROM endpoints WHERE fifo);
