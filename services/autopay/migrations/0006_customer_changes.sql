-- Customers change AutoPay later, and payment methods are removed (issue 13).
-- (0005 is another change's.) Functions run with this migration's search_path: autopay.

-- A removed payment method's profile is kept, for the audit trail, with AutoPay off.
ALTER TABLE payment_profiles
    ADD COLUMN removed_at timestamptz,
    ADD COLUMN trigger text NOT NULL DEFAULT 'payment_method_added'
        CHECK (trigger IN ('payment_method_added', 'customer_changed', 'payment_method_removed'));

-- Every change of a profile, newest first by `id` for the history route's pages.
CREATE TABLE profile_history (
    id                bigserial   PRIMARY KEY,
    merchant_id       text        NOT NULL,
    customer_id       text        NOT NULL,
    payment_method_id text        NOT NULL,
    auto_process      boolean     NOT NULL,
    decided_by        text        NOT NULL,
    trigger           text        NOT NULL,
    settings_version  integer     NOT NULL,
    removed           boolean     NOT NULL,
    caused_by         text        NOT NULL,
    recorded_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX profile_history_newest_first
    ON profile_history (merchant_id, customer_id, payment_method_id, id DESC);

-- Written by the database, not by the callers: every path that writes a profile (the
-- decisions' one-statement SQL included) leaves its history without another round trip.
-- Once per statement, over all its rows: the decisions write thousands at a time.
CREATE FUNCTION record_created_profiles() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO profile_history
        (merchant_id, customer_id, payment_method_id, auto_process, decided_by, trigger,
         settings_version, removed, caused_by)
    SELECT merchant_id, customer_id, payment_method_id, auto_process, decided_by, trigger,
           settings_version, removed_at IS NOT NULL, caused_by
    FROM created;
    RETURN NULL;
END $$;

-- A redelivered or repeated decision rewrites the same values: no history row for it.
CREATE FUNCTION record_changed_profiles() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO profile_history
        (merchant_id, customer_id, payment_method_id, auto_process, decided_by, trigger,
         settings_version, removed, caused_by)
    SELECT n.merchant_id, n.customer_id, n.payment_method_id, n.auto_process, n.decided_by,
           n.trigger, n.settings_version, n.removed_at IS NOT NULL, n.caused_by
    FROM after_change n
    JOIN before_change o USING (merchant_id, customer_id, payment_method_id)
    WHERE o.auto_process IS DISTINCT FROM n.auto_process
       OR o.decided_by IS DISTINCT FROM n.decided_by
       OR (o.removed_at IS NULL) IS DISTINCT FROM (n.removed_at IS NULL);
    RETURN NULL;
END $$;

CREATE TRIGGER profiles_created AFTER INSERT ON payment_profiles
    REFERENCING NEW TABLE AS created
    FOR EACH STATEMENT EXECUTE FUNCTION record_created_profiles();
CREATE TRIGGER profiles_changed AFTER UPDATE ON payment_profiles
    REFERENCING OLD TABLE AS before_change NEW TABLE AS after_change
    FOR EACH STATEMENT EXECUTE FUNCTION record_changed_profiles();

-- What a later AutopayChoiceRecorded repeats of the payment method's first one (the
-- customer's name, the card, the channel): the profile does not hold them. Copied by the
-- database from every choice queued in the outbox, so the decisions' SQL needs no change.
CREATE TABLE payment_method_details (
    merchant_id       text  NOT NULL,
    customer_id       text  NOT NULL,
    payment_method_id text  NOT NULL,
    customer_name     text  NOT NULL,
    payment_method    jsonb NOT NULL,
    channel           text  NOT NULL,
    PRIMARY KEY (merchant_id, customer_id, payment_method_id)
);

CREATE FUNCTION remember_payment_method_details() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO payment_method_details
        (merchant_id, customer_id, payment_method_id, customer_name, payment_method, channel)
    SELECT DISTINCT ON (1, 2, 3)
           c->>'merchant_id', c->>'customer_id', c->'payment_method'->>'id',
           c->>'customer_name', c->'payment_method', c->>'channel'
    FROM (SELECT convert_from(value, 'UTF8')::jsonb AS c FROM queued
          WHERE topic = 'autopay.choice.recorded') AS choices
    ON CONFLICT (merchant_id, customer_id, payment_method_id) DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER choice_queued AFTER INSERT ON outbox
    REFERENCING NEW TABLE AS queued
    FOR EACH STATEMENT EXECUTE FUNCTION remember_payment_method_details();

-- Change requests waiting for their payment method's PaymentMethodAdded (the two topics are
-- not ordered with each other). The shared parking lot (services/common/parking_lot.py) reads
-- `<schema>.parked_events`: a schema of their own keeps them apart from the payment methods
-- waiting for their settings. Here `settings_version` is 0 for a request waiting for its
-- payment method, null for one only queued behind its customer's earlier requests.
-- IF NOT EXISTS: another schema migrated from these files (the benchmark's) shares it.
CREATE SCHEMA IF NOT EXISTS autopay_changes;
CREATE TABLE IF NOT EXISTS autopay_changes.parked_events (
    position         bigserial   PRIMARY KEY,
    event_id         text        NOT NULL UNIQUE,
    merchant_id      text        NOT NULL,
    customer_id      text        NOT NULL,
    settings_version integer,
    park_until       timestamptz NOT NULL,
    event            jsonb       NOT NULL,
    parked_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS parked_events_customer
    ON autopay_changes.parked_events (merchant_id, customer_id, position);
