-- Outgoing webhooks: each audited change that matches a hook's filters is queued for it in the change's own
-- transaction, and the leader replica sends the queue in order per hook, retrying with backoff.
CREATE TABLE webhooks (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url          TEXT NOT NULL,
    -- The HMAC key the deliveries are signed with; never shown after creation.
    secret       TEXT NOT NULL,
    -- Filters, JSON arrays of strings; an empty array matches everything.
    environments TEXT NOT NULL,
    flags        TEXT NOT NULL,
    tags         TEXT NOT NULL,
    actions      TEXT NOT NULL,
    format       TEXT NOT NULL,
    enabled      BIGINT NOT NULL,
    -- Failed attempts since the last delivered one; past the limit the hook is disabled.
    failures     BIGINT NOT NULL DEFAULT 0,
    version      BIGINT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE webhook_deliveries (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hook_id         BIGINT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    -- Sent as Pennon-Delivery, the same on every attempt.
    delivery_id     TEXT NOT NULL,
    -- The audit row delivered; NULL for a test event.
    audit_id        BIGINT,
    action          TEXT NOT NULL,
    -- pending, delivered or failed.
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_attempt_at BIGINT,
    last_status     BIGINT,
    last_response   TEXT,
    last_error      TEXT
);
CREATE INDEX webhook_deliveries_queue ON webhook_deliveries (status, hook_id, id);
CREATE INDEX webhook_deliveries_by_hook ON webhook_deliveries (hook_id, id);
