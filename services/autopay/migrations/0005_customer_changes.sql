-- Customers change AutoPay later, and payment methods are removed (issue 13).
-- A profile keeps what a later change's AutopayChoiceRecorded must say (the customer's name,
-- the payment method and its channel, as of its PaymentMethodAdded), what last changed it,
-- and when its payment method was removed (the row stays, for the audit trail).
ALTER TABLE payment_profiles
    ADD COLUMN customer_name  text,
    ADD COLUMN payment_method jsonb,
    ADD COLUMN channel        text,
    ADD COLUMN trigger        text NOT NULL DEFAULT 'payment_method_added' CHECK (
        trigger IN ('payment_method_added', 'customer_changed', 'payment_method_removed')
    ),
    ADD COLUMN removed_at     timestamptz;

-- Every change of a profile, read newest first (GET …/payment-profiles/{pm}/history).
CREATE TABLE profile_history (
    id                bigserial   PRIMARY KEY,
    merchant_id       text        NOT NULL,
    customer_id       text        NOT NULL,
    payment_method_id text        NOT NULL,
    auto_process      boolean     NOT NULL,
    decided_by        text        NOT NULL,
    trigger           text        NOT NULL,
    settings_version  integer     NOT NULL,
    caused_by         text        NOT NULL,
    changed_at        timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX profile_history_newest_first
    ON profile_history (merchant_id, customer_id, payment_method_id, id DESC);

-- Change requests waiting for their payment method's PaymentMethodAdded (the two topics are
-- not ordered with each other): the layout services/common/parking_lot.py reads and writes.
CREATE TABLE parked_change_requests (LIKE parked_events INCLUDING ALL);
