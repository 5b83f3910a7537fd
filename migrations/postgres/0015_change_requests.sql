-- Change requests: in an environment that requires approvals, an editor's config change is kept as a request
-- until enough others approve it; it is then applied as an ordinary versioned change.
ALTER TABLE environments ADD COLUMN approvals_required BIGINT NOT NULL DEFAULT 0;

CREATE TABLE change_requests (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    flag           TEXT NOT NULL REFERENCES flags (key) ON DELETE CASCADE,
    environment    TEXT NOT NULL REFERENCES environments (key) ON DELETE CASCADE,
    -- pending | applied | rejected | cancelled (a pending one whose config moved on reads as stale)
    state          TEXT NOT NULL,
    -- the edit, as the audit log names it: config.toggle, config.rule.add, ...
    action         TEXT NOT NULL,
    author         TEXT NOT NULL,
    comment        TEXT,
    base_version   BIGINT NOT NULL,
    base_config    TEXT NOT NULL,
    proposed       TEXT NOT NULL,
    -- who rejected, cancelled or applied it, and the rejection's comment
    decided_by     TEXT,
    decision       TEXT,
    applied_version BIGINT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX change_requests_by_environment ON change_requests (environment, id);
CREATE INDEX change_requests_by_flag ON change_requests (flag, environment, id);

CREATE TABLE change_request_approvals (
    request      BIGINT NOT NULL REFERENCES change_requests (id) ON DELETE CASCADE,
    actor        TEXT NOT NULL,
    at           BIGINT NOT NULL,
    PRIMARY KEY (request, actor)
);
