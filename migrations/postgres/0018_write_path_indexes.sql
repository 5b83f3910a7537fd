-- Indexes for the statements of every config write, which otherwise read the whole environment:
-- - replacing a config's segment uses deletes them by (flag, environment), and removing a config cascades to
--   them the same way; the primary key starts with the segment;
-- - validation asks which flags of an environment require the flags a change names. The index on prerequisite
--   alone did not hold the flag, so the primary key's (environment, ...) prefix was chosen instead, and it
--   matches every edge of the environment. This one answers both that and "which configs require this flag".
CREATE INDEX segment_uses_by_flag ON segment_uses (flag, environment);
CREATE INDEX prerequisite_edges_by_prerequisite_covering ON prerequisite_edges (prerequisite, environment, flag);
DROP INDEX prerequisite_edges_by_prerequisite;
