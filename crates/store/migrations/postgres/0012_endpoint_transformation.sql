-- An endpoint's transformation, as JSON `{code, enabled, updatedAt}` (see hookd-transform);
-- NULL: never set.
ALTER TABLE endpoints ADD COLUMN transformation TEXT;
