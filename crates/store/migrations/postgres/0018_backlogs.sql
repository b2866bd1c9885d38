-- The columns of SQLite's backlogs (its migration 0016), so that both backends read the same
-- statements. PostgreSQL does not use them yet: its publishes, which two nodes commit in
-- either order, would need a commit-ordered sequence per application first, so every endpoint
-- keeps a delivery row per message there (`backlog.rs`).
ALTER TABLE messages ADD COLUMN seq BIGINT;
ALTER TABLE messages ADD COLUMN to_endpoint TEXT;
ALTER TABLE endpoint_queues ADD COLUMN backlog_after BIGINT;
-- The endpoints with a backlog, which retention and settling look for.
CREATE INDEX endpoint_queues_backlogs ON endpoint_queues (backlog_after) WHERE backlog_after IS NOT NULL;
