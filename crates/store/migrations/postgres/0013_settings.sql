-- Facts about the database as a whole. `main_key_id`: the main key that seals its secrets
-- (see hookd-core's `sealing`), so that a node with another key refuses to start.
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
