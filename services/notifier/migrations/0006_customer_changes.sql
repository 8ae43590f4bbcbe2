-- Customers change AutoPay later in the portal (two new emails), and a removed payment
-- method ends AutoPay (recorded, no email).
ALTER TABLE choices DROP CONSTRAINT choices_outcome_check;
ALTER TABLE choices ADD CONSTRAINT choices_outcome_check CHECK (
    outcome IN (
        'enrolled', 'declined', 'turned_on', 'turned_off',
        'merchant_policy', 'removed', 'no_recipient'
    )
);

ALTER TABLE emails DROP CONSTRAINT emails_template_check;
ALTER TABLE emails ADD CONSTRAINT emails_template_check
    CHECK (template IN ('enrolled', 'declined', 'turned_on', 'turned_off'));
