-- The prerequisite edges of every flag config, kept with the config, so that validating a change reads the
-- edges of the environment and the flags it names rather than every config, and deleting a flag finds the
-- configs that require it with one indexed query. Filled from the configs stored so far.
CREATE TABLE prerequisite_edges (
    flag          TEXT NOT NULL,
    environment   TEXT NOT NULL,
    prerequisite  TEXT NOT NULL,
    PRIMARY KEY (environment, flag, prerequisite),
    FOREIGN KEY (flag, environment) REFERENCES flag_configs (flag, environment) ON DELETE CASCADE
);
CREATE INDEX prerequisite_edges_by_prerequisite ON prerequisite_edges (prerequisite);

INSERT OR IGNORE INTO prerequisite_edges (flag, environment, prerequisite)
    SELECT c.flag, c.environment, json_extract(p.value, '$.flag')
    FROM flag_configs c, json_each(c.config, '$.prerequisites') p
    WHERE json_extract(p.value, '$.flag') IS NOT NULL;
