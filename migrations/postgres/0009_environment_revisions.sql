-- The last revision of every environment that was deleted. One created again under the same key continues
-- after it, so that a revision (an SDK's ETag or Last-Event-ID) never names two different states of one key.
CREATE TABLE retired_revisions (
    environment  TEXT PRIMARY KEY,
    revision     BIGINT NOT NULL
);
