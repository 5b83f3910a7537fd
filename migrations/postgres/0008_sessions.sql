-- Sessions of signed-in users, so that the server can end them: logout ends one, a password change, a role
-- change or disabling ends all of a user's (the JWT carries the id). Replicas keep the ended, not yet expired
-- ones in memory; rows past their expiry are pruned.
CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX sessions_by_user ON sessions (user_id, revoked_at);
CREATE INDEX sessions_revoked ON sessions (revoked_at, expires_at);
