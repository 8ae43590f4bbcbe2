-- When an email was (last) queued: temporary failures are retried for NOTIFIER_GIVE_UP_AFTER
-- from then. `portal-autopay emails retry` queues a given-up email again, from a new start.
ALTER TABLE emails ADD COLUMN queued_at timestamptz;
UPDATE emails SET queued_at = created_at;
ALTER TABLE emails ALTER COLUMN queued_at SET NOT NULL, ALTER COLUMN queued_at SET DEFAULT now();
