-- Trigger URLs: each one turns a flag off (or on) in one environment when POSTed to. Only the SHA-256 of the
-- secret in the URL is kept, as for SDK keys.
CREATE TABLE triggers (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    flag           TEXT NOT NULL,
    environment    TEXT NOT NULL,
    name           TEXT,
    -- off | on
    action         TEXT NOT NULL,
    -- none | off | on: what an Alertmanager "resolved" notification does
    on_resolved    TEXT NOT NULL,
    secret_hash    TEXT NOT NULL UNIQUE,
    prefix         TEXT NOT NULL,
    created_by     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    revoked_at     BIGINT,
    last_fired_at  BIGINT,
    FOREIGN KEY (flag, environment) REFERENCES flag_configs (flag, environment) ON DELETE CASCADE
);
CREATE INDEX triggers_by_config ON triggers (flag, environment, id);
