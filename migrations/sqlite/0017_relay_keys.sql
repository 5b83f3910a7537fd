-- Relay credentials (`pnn_rly_...`): one secret that lets a `pennon relay` read, for each environment it
-- names, what a server key of that environment may read for relaying. Only the SHA-256 hash is kept.
CREATE TABLE relay_keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    revoked_at   BIGINT
);

-- The environments a relay credential names; deleting an environment takes it off every credential.
CREATE TABLE relay_key_environments (
    relay_key    BIGINT NOT NULL REFERENCES relay_keys (id) ON DELETE CASCADE,
    environment  TEXT NOT NULL REFERENCES environments (key) ON DELETE CASCADE,
    PRIMARY KEY (relay_key, environment)
);
