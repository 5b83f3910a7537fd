-- Where a guard reads its numbers: NULL for the SDK metrics intake (every guard before this), else the JSON of
-- a source such as {"kind": "prometheus", "url": ..., "events": <PromQL template>, "requests": ...}.
ALTER TABLE guards ADD COLUMN source TEXT;
-- Why the last check could not read its source (a query that failed, answered an error or found no series);
-- NULL when it read. A check that cannot read decides nothing.
ALTER TABLE guards ADD COLUMN source_error TEXT;
