-- Backlogs, as on SQLite (its migration 0016; `backlog.rs`): an endpoint that is behind gets
-- no delivery row per message; its queue row marks the last message of its application's log
-- it has taken (`backlog_after`, a `seq`). On PostgreSQL `seq` comes from one sequence, taken
-- by a publish batch under its applications' advisory lock (shared); what reads the log past a
-- mark takes that lock exclusively first, so no batch of the application is in flight behind
-- what it reads. Existing messages keep no `seq` (routed with rows); the default applies to
-- new rows only, so the table is not rewritten.
CREATE SEQUENCE messages_seq;
ALTER TABLE messages ADD COLUMN seq BIGINT;
ALTER TABLE messages ALTER COLUMN seq SET DEFAULT nextval('messages_seq');
ALTER TABLE messages ADD COLUMN to_endpoint TEXT;
CREATE INDEX messages_log ON messages (app_id, seq) WHERE seq IS NOT NULL;
ALTER TABLE endpoint_queues ADD COLUMN backlog_after BIGINT;
-- The endpoints with a backlog, which retention and settling look for.
CREATE INDEX endpoint_queues_backlogs ON endpoint_queues (backlog_after) WHERE backlog_after IS NOT NULL;
