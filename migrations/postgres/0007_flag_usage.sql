-- When each flag was last evaluated in each environment (by the server or, through their exposures, by
-- SDKs), at minute granularity, and how often per hour. Written by the periodic flush of in-memory counts,
-- never per evaluation. Times are Unix milliseconds; `hour` is the start of the hour. Hourly rows are
-- pruned after the metrics retention; `flag_last_seen` is kept, so a flag unused for months still says when.
CREATE TABLE flag_last_seen (
    flag         TEXT NOT NULL,
    environment  TEXT NOT NULL,
    last_seen    BIGINT NOT NULL,
    PRIMARY KEY (flag, environment)
);

CREATE TABLE flag_usage_hours (
    flag         TEXT NOT NULL,
    environment  TEXT NOT NULL,
    hour         BIGINT NOT NULL,
    evaluations  BIGINT NOT NULL,
    PRIMARY KEY (flag, environment, hour)
);
CREATE INDEX flag_usage_hours_by_time ON flag_usage_hours (hour);
