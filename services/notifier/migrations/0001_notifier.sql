-- Each merchant's notification settings as last seen on portal.settings.changed.
CREATE TABLE recipients (
    merchant_id text PRIMARY KEY,
    version integer NOT NULL,
    emails text[] NOT NULL,
    locale text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per AutopayChoiceRecorded ever handled: the dedupe record (a redelivered or
-- replayed event finds its id here and sends nothing) and what became of it.
CREATE TABLE choices (
    event_id text PRIMARY KEY,
    merchant_id text NOT NULL,
    outcome text NOT NULL
        CHECK (outcome IN ('enrolled', 'declined', 'merchant_policy', 'no_recipient')),
    settings_version integer NOT NULL,
    -- The settings version the recipients were taken from (lower when the wait timed out).
    recipients_version integer NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

-- The email outbox: one row per (event, recipient), written with the choice, sent later.
CREATE TABLE emails (
    event_id text NOT NULL REFERENCES choices (event_id),
    recipient text NOT NULL,
    template text NOT NULL CHECK (template IN ('enrolled', 'declined')),
    locale text NOT NULL,
    facts jsonb NOT NULL,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz,
    PRIMARY KEY (event_id, recipient)
);

CREATE INDEX emails_due ON emails (next_attempt_at) WHERE status = 'pending';
