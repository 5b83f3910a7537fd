-- Metric guards: a statistical test on one tracked metric of a flag's treatment variant in one environment,
-- checked by the guard loop, which turns the flag off (or halts its rollout) when it breaches.
CREATE TABLE guards (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    environment     TEXT NOT NULL,
    flag            TEXT NOT NULL,
    -- The statistical definition (pennon_engine::guards::GuardSpec).
    metric          TEXT NOT NULL,
    statistic       TEXT NOT NULL,
    direction       TEXT NOT NULL,
    threshold_kind  TEXT NOT NULL,
    threshold       DOUBLE PRECISION NOT NULL,
    min_samples     BIGINT NOT NULL,
    alpha           DOUBLE PRECISION NOT NULL,
    tuning_samples  BIGINT NOT NULL,
    -- The arms: the variant under watch, and the one it is compared with (NULL for an absolute threshold).
    variant         TEXT NOT NULL,
    control         TEXT,
    -- Data older than this many milliseconds are not counted.
    window_ms       BIGINT NOT NULL,
    -- disable_flag | halt_rollout
    action          TEXT NOT NULL,
    -- insufficient_data | healthy | breached
    state           TEXT NOT NULL,
    -- The last check's evidence (JSON) and time.
    evidence        TEXT,
    checked_at      BIGINT,
    -- When the guard's data start: its creation or its last reset (Unix milliseconds).
    since           BIGINT NOT NULL,
    -- The flag config's version that the breach wrote; a later version that is enabled resets the guard.
    breach_config_version BIGINT,
    version         BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    FOREIGN KEY (flag, environment) REFERENCES flag_configs (flag, environment) ON DELETE CASCADE
);
CREATE INDEX guards_by_config ON guards (environment, flag);

-- Every change of a guard's state, with the numbers of that check, for the dashboard's charts. Pruned to the
-- newest rows of each guard.
CREATE TABLE guard_transitions (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    guard_id         BIGINT NOT NULL REFERENCES guards (id) ON DELETE CASCADE,
    at               BIGINT NOT NULL,
    state            TEXT NOT NULL,
    treatment_n      BIGINT NOT NULL,
    treatment_value  DOUBLE PRECISION,
    control_n        BIGINT NOT NULL,
    control_value    DOUBLE PRECISION,
    p_value          DOUBLE PRECISION
);
CREATE INDEX guard_transitions_by_guard ON guard_transitions (guard_id, at);
