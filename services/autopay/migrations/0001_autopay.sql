-- Every version of every merchant's portal settings, as published by the settings service:
-- a payment method is decided with the exact version its portal page was rendered with.
CREATE TABLE settings_versions (
    merchant_id                               text        NOT NULL,
    version                                   integer     NOT NULL CHECK (version >= 1),
    allow_customer_autopay_changes            boolean     NOT NULL,
    auto_enable_autopay_on_new_payment_method boolean     NOT NULL,
    default_use_for_autopay_checked           boolean     NOT NULL,
    auto_enable_autopay_on_payment_link       boolean     NOT NULL,
    event_id                                  text        NOT NULL,
    recorded_at                               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, version)
);

-- The ids of the PaymentMethodAdded events already handled: written in the same transaction
-- as the profiles and the outbox, so a redelivered or replayed event changes nothing.
CREATE TABLE processed_events (
    event_id     text        PRIMARY KEY,
    processed_at timestamptz NOT NULL DEFAULT now()
);

-- One payment profile per customer's payment method, with how its flag was decided.
CREATE TABLE payment_profiles (
    merchant_id       text        NOT NULL,
    customer_id       text        NOT NULL,
    payment_method_id text        NOT NULL,
    auto_process      boolean     NOT NULL,
    decided_by        text        NOT NULL CHECK (decided_by IN ('customer', 'merchant_policy')),
    settings_version  integer     NOT NULL,
    caused_by         text        NOT NULL,
    -- A box value sent while customers could not change AutoPay: ignored, and counted here.
    box_ignored       boolean     NOT NULL DEFAULT false,
    -- The version named by the event never arrived within the wait: decided with the latest.
    settings_fallback boolean     NOT NULL DEFAULT false,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, customer_id, payment_method_id)
);
