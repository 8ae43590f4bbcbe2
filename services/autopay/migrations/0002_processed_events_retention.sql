-- The purge finds the ids older than DEDUPE_RETENTION_DAYS through this index.
CREATE INDEX processed_events_by_age ON processed_events (processed_at);
