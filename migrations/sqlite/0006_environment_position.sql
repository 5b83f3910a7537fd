-- Environments are shown in a configurable order (development, staging, production), not by key. Existing
-- environments keep the order they were made in: each one's position is the number made before it (ties
-- broken by key).
ALTER TABLE environments ADD COLUMN position BIGINT NOT NULL DEFAULT 0;
UPDATE environments SET position = (
    SELECT COUNT(*) FROM environments earlier
    WHERE earlier.created_at < environments.created_at
       OR (earlier.created_at = environments.created_at AND earlier.key < environments.key)
);
