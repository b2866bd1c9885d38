-- Svix's newer event-type fields: a list of feature flags (the older single feature_flag
-- stays) and a group name, both plain text (feature_flags as a JSON array).
ALTER TABLE event_types ADD COLUMN feature_flags TEXT;
ALTER TABLE event_types ADD COLUMN group_name TEXT;
