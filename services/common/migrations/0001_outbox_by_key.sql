-- Publisher and relay claim a row only when no older row of its key is pending: this index
-- answers that question for each row claimed, however long the outbox has grown.
CREATE INDEX outbox_by_key ON outbox (key, id);
