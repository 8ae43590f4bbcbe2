-- The transactional outbox: a service writes its outgoing events here in the same transaction
-- as the state they describe; the relay publishes them in id order and deletes them.
CREATE TABLE outbox (
    id         bigserial PRIMARY KEY,
    topic      text        NOT NULL,
    key        text        NOT NULL,
    event_id   text        NOT NULL UNIQUE,
    headers    jsonb       NOT NULL,
    value      bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
