-- Deliveries and attempts no longer check their message and endpoint by foreign key. Each
-- check is a query of its own per row, which locks the referenced row: measured on this
-- schema, the two checks nearly doubled the cost of inserting a delivery (202,000 rows: 3.3–4.4 s
-- with them, 1.7–2.8 s without), and a publish inserts one row per destination. What the
-- keys guaranteed is kept by the store (see `integrity.rs`): deleting an endpoint, an
-- application or a message deletes their deliveries and attempts in the same transaction;
-- a publish batch holds its applications' lock (shared) so that no endpoint is deleted
-- between its routing and its commit; a record inserts an attempt only while its delivery
-- exists; a resend locks its message. SQLite keeps its foreign keys (one writer, and the
-- checks cost it little; removing them would rebuild its two largest tables).
ALTER TABLE deliveries DROP CONSTRAINT deliveries_msg_id_fkey;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_endpoint_id_fkey;
ALTER TABLE attempts DROP CONSTRAINT attempts_msg_id_fkey;
ALTER TABLE attempts DROP CONSTRAINT attempts_endpoint_id_fkey;
