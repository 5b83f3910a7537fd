-- Gradual rollout plans: at most one per flag config. `steps` is JSON text, `[{"percent": 1, "hold_ms": 600000},
-- ..., {"percent": 100}]`; times are Unix milliseconds. `step_ends_at` is when the current step's hold is over
-- (NULL unless running with a step still to come), so the scheduler finds the plans that are due with one
-- indexed query and a restart changes nothing: the hold is measured from what is stored here.
CREATE TABLE plans (
    flag             TEXT NOT NULL,
    environment      TEXT NOT NULL,
    variant          TEXT NOT NULL,
    control          TEXT NOT NULL,
    bucket_by        TEXT NOT NULL,
    steps            TEXT NOT NULL,
    state            TEXT NOT NULL,
    current_step     BIGINT NOT NULL DEFAULT 0,
    step_started_at  BIGINT,
    step_ends_at     BIGINT,
    remaining_ms     BIGINT,
    version          BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    updated_by       TEXT NOT NULL,
    PRIMARY KEY (flag, environment),
    FOREIGN KEY (flag, environment) REFERENCES flag_configs (flag, environment) ON DELETE CASCADE
);
CREATE INDEX plans_due ON plans (state, step_ends_at);

-- What happened to a plan, oldest first: created, updated, started, advanced, paused, resumed, halted, aborted,
-- completed. `step` and `percent` are where the plan stood after the event; `detail` is JSON text (a guard's
-- evidence, for instance).
CREATE TABLE plan_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    flag         TEXT NOT NULL,
    environment  TEXT NOT NULL,
    at           BIGINT NOT NULL,
    event        TEXT NOT NULL,
    step         BIGINT,
    percent      DOUBLE PRECISION,
    actor        TEXT NOT NULL,
    detail       TEXT,
    FOREIGN KEY (flag, environment) REFERENCES plans (flag, environment) ON DELETE CASCADE
);
CREATE INDEX plan_events_by_plan ON plan_events (flag, environment, id);
