-- Backlogs: an endpoint that is behind (its lane has all it can hold) gets no delivery row per
-- message while it stays behind. Its queue row says which of its application's messages it has
-- taken (`backlog_after`, a `seq`), and its lane makes the rows of the messages after that as
-- it claims them (see `backlog.rs`). `seq` numbers an application's messages in commit order
-- (SQLite's one writer gives that order); messages stored before this migration have none and
-- were routed with rows. `to_endpoint` keeps a message sent to one endpoint alone (Svix's
-- send-example) from reaching the others' backlogs.
ALTER TABLE messages ADD COLUMN seq BIGINT;
ALTER TABLE messages ADD COLUMN to_endpoint TEXT;
CREATE INDEX messages_log ON messages (app_id, seq) WHERE seq IS NOT NULL;
ALTER TABLE endpoint_queues ADD COLUMN backlog_after BIGINT;
-- The endpoints with a backlog, which retention and settling look for.
CREATE INDEX endpoint_queues_backlogs ON endpoint_queues (backlog_after) WHERE backlog_after IS NOT NULL;
