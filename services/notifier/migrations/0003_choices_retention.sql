-- The purge finds the choices older than DEDUPE_RETENTION_DAYS through this index.
CREATE INDEX choices_by_age ON choices (recorded_at);
