-- Metrics as objects: what a tracked metric is (rate of events per exposure, or mean of values), its unit and
-- which way is better. Guards and experiment results name them by key; the SDK metrics intake keeps only
-- data of known metrics.
CREATE TABLE metrics (
    key          TEXT PRIMARY KEY,
    -- rate | mean
    kind         TEXT NOT NULL,
    unit         TEXT NOT NULL,
    -- higher_is_better | lower_is_better
    direction    TEXT NOT NULL,
    description  TEXT NOT NULL,
    version      BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

-- Existing guards keep working: each metric name a guard watches becomes a metric, of the guard's statistic,
-- better in the direction opposite to the one the guard calls worse.
INSERT INTO metrics (key, kind, unit, direction, description, version, created_at, updated_at)
SELECT metric, MIN(statistic), '',
       CASE MIN(direction) WHEN 'higher_is_worse' THEN 'lower_is_better' ELSE 'higher_is_better' END,
       'Created for the guards that watched it before metrics were objects.', 1, MIN(created_at), MIN(created_at)
FROM guards GROUP BY metric;
