-- Pennon schema. Booleans are stored as 0/1 integers, times as Unix milliseconds and documents as JSON text,
-- so that one query text serves PostgreSQL and SQLite alike.

CREATE TABLE environments (
    key         TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    production  BIGINT NOT NULL DEFAULT 0,
    revision    BIGINT NOT NULL DEFAULT 0,
    version     BIGINT NOT NULL DEFAULT 1,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE flags (
    key          TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL,
    tags         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    variants     TEXT NOT NULL,
    salt         TEXT NOT NULL,
    archived     BIGINT NOT NULL DEFAULT 0,
    version      BIGINT NOT NULL DEFAULT 1,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE flag_tags (
    flag  TEXT NOT NULL REFERENCES flags (key) ON DELETE CASCADE,
    tag   TEXT NOT NULL,
    PRIMARY KEY (flag, tag)
);
CREATE INDEX flag_tags_by_tag ON flag_tags (tag, flag);

-- The current config of a flag in an environment (the FlagConfig JSON, version included).
CREATE TABLE flag_configs (
    flag         TEXT NOT NULL REFERENCES flags (key) ON DELETE CASCADE,
    environment  TEXT NOT NULL REFERENCES environments (key) ON DELETE CASCADE,
    version      BIGINT NOT NULL,
    config       TEXT NOT NULL,
    updated_at   BIGINT NOT NULL,
    updated_by   TEXT NOT NULL,
    PRIMARY KEY (flag, environment)
);
CREATE INDEX flag_configs_by_environment ON flag_configs (environment, flag);

-- Every version a config has had, for history and revert.
CREATE TABLE flag_config_versions (
    flag         TEXT NOT NULL,
    environment  TEXT NOT NULL,
    version      BIGINT NOT NULL,
    config       TEXT NOT NULL,
    action       TEXT NOT NULL,
    actor        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (flag, environment, version),
    FOREIGN KEY (flag, environment) REFERENCES flag_configs (flag, environment) ON DELETE CASCADE
);

CREATE TABLE segments (
    key         TEXT PRIMARY KEY,
    version     BIGINT NOT NULL,
    body        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- Which segments each flag config's rules use, so a segment in use cannot be deleted.
CREATE TABLE segment_uses (
    segment      TEXT NOT NULL REFERENCES segments (key),
    flag         TEXT NOT NULL,
    environment  TEXT NOT NULL,
    PRIMARY KEY (segment, flag, environment),
    FOREIGN KEY (flag, environment) REFERENCES flag_configs (flag, environment) ON DELETE CASCADE
);

-- One row per changed object per environment revision: what SDK streams replay.
CREATE TABLE change_log (
    environment  TEXT NOT NULL REFERENCES environments (key) ON DELETE CASCADE,
    revision     BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    key          TEXT NOT NULL,
    op           TEXT NOT NULL,
    payload      TEXT,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (environment, revision, kind, key)
);

CREATE TABLE audit_log (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           BIGINT NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    resource     TEXT NOT NULL,
    resource_key TEXT NOT NULL,
    flag         TEXT,
    environment  TEXT,
    version      BIGINT,
    before       TEXT,
    after        TEXT,
    detail       TEXT
);
CREATE INDEX audit_log_by_flag ON audit_log (flag, id);
CREATE INDEX audit_log_by_environment ON audit_log (environment, id);
CREATE INDEX audit_log_by_actor ON audit_log (actor, id);
CREATE INDEX audit_log_by_time ON audit_log (at, id);
