-- Config changes scheduled for a time: one row each. `edit` is the change as JSON text (`{"kind": "toggle",
-- "enabled": false}`, ...), `based_on` the config version it was written against. The leader applies a due
-- change in one transaction with the config write: `state` goes pending -> applied (or failed, with
-- `failure`) there, so it happens once whatever restarts or replicas. Times are Unix milliseconds.
CREATE TABLE scheduled_changes (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    flag            TEXT NOT NULL,
    environment     TEXT NOT NULL,
    at              BIGINT NOT NULL,
    edit            TEXT NOT NULL,
    comment         TEXT NOT NULL,
    author          TEXT NOT NULL,
    based_on        BIGINT NOT NULL,
    -- pending | applied | failed | cancelled
    state           TEXT NOT NULL,
    version         BIGINT NOT NULL,
    applied_version BIGINT,
    failure         TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    updated_by      TEXT NOT NULL,
    resolved_at     BIGINT,
    FOREIGN KEY (flag, environment) REFERENCES flag_configs (flag, environment) ON DELETE CASCADE
);
CREATE INDEX scheduled_changes_due ON scheduled_changes (state, at);
CREATE INDEX scheduled_changes_config ON scheduled_changes (flag, environment, id);
