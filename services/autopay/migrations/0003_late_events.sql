-- The `ce_time` of the event behind each profile (null when that event carried none): an
-- older event for the same payment method changes nothing.
ALTER TABLE payment_profiles ADD COLUMN source_time timestamptz;

-- Events recorded as processed without any effect because a newer one had decided already.
ALTER TABLE processed_events ADD COLUMN late boolean NOT NULL DEFAULT false;
