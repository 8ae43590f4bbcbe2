-- One row per merchant that ever saved settings. A save locks this row until it commits
-- (an upsert, which also creates it), so one merchant's changes are serialised:
-- consecutive versions, outbox rows in version order. `current_version` is the version the
-- merchant's settings are at now.
CREATE TABLE merchants (
    merchant_id     text    PRIMARY KEY,
    current_version integer NOT NULL CHECK (current_version >= 0)
);

-- Every change is a new immutable version (1, 2, 3…); rows are never updated or deleted.
-- `event_id` is the id of the PortalSettingsChanged written to the outbox in the same
-- transaction, so a published event can be traced back to its version.
CREATE TABLE versions (
    merchant_id  text        NOT NULL REFERENCES merchants (merchant_id),
    version      integer     NOT NULL CHECK (version >= 1),
    settings     jsonb       NOT NULL,
    notification jsonb       NOT NULL,
    changed_by   text        NOT NULL,
    changed_at   timestamptz NOT NULL,
    event_id     text        NOT NULL UNIQUE,
    PRIMARY KEY (merchant_id, version)
);
