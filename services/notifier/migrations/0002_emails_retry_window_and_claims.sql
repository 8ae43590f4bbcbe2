-- When an email was (last) queued: temporary failures are retried for NOTIFIER_GIVE_UP_AFTER
-- from then. `portal-autopay emails retry` queues a given-up email again, from a new start.
ALTER TABLE emails ADD COLUMN queued_at timestamptz;
UPDATE emails SET queued_at = created_at;
ALTER TABLE emails ALTER COLUMN queued_at SET NOT NULL, ALTER COLUMN queued_at SET DEFAULT now();

-- The sender that has claimed a pending email: the key of the advisory lock its session
-- holds. The claim lasts as long as that lock, so a sender that dies frees its emails at once.
ALTER TABLE emails ADD COLUMN claimed_by bigint;
