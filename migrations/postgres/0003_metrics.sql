-- SDK metrics, aggregated per 10-second bucket (`bucket` = its start, Unix milliseconds). Every replica adds
-- its own aggregates to the rows with an upsert, so the sums cover the whole cluster.

-- How often each variant of a flag was served.
CREATE TABLE exposure_buckets (
    environment  TEXT NOT NULL,
    flag         TEXT NOT NULL,
    variant      TEXT NOT NULL,
    bucket       BIGINT NOT NULL,
    count        BIGINT NOT NULL,
    PRIMARY KEY (environment, flag, variant, bucket)
);
CREATE INDEX exposure_buckets_by_time ON exposure_buckets (bucket);

-- What the application tracked per variant: count, sum and sum of squares of the values.
CREATE TABLE metric_buckets (
    environment  TEXT NOT NULL,
    flag         TEXT NOT NULL,
    metric       TEXT NOT NULL,
    variant      TEXT NOT NULL,
    bucket       BIGINT NOT NULL,
    count        BIGINT NOT NULL,
    sum          DOUBLE PRECISION NOT NULL,
    sum_squares  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (environment, flag, metric, variant, bucket)
);
CREATE INDEX metric_buckets_by_time ON metric_buckets (bucket);
