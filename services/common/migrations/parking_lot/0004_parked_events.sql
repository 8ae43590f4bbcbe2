-- Events waiting for the settings version they name (or behind such an event of the same
-- customer): kept here, not in the consumer, so no other merchant's events wait with them and a
-- restart keeps them. Decided when the version arrives or when park_until passes. The layout
-- is the one services/common/parking_lot.py reads and writes (the same in each schema).
CREATE TABLE parked_events (
    position         bigserial   PRIMARY KEY,  -- arrival order: each customer's queue
    event_id         text        NOT NULL UNIQUE,
    merchant_id      text        NOT NULL,
    customer_id      text        NOT NULL,
    -- The version waited for; null for an event that only waits for those before it.
    settings_version integer,
    park_until       timestamptz NOT NULL,
    event            jsonb       NOT NULL,     -- the CloudEvent, structured mode
    parked_at        timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX parked_events_customer ON parked_events (merchant_id, customer_id, position);
