"""A settings document as a merchant saves it over the settings API, for its tests."""

SETTINGS = {
    "allow_customer_autopay_changes": True,
    "auto_enable_autopay_on_new_payment_method": False,
    "default_use_for_autopay_checked": True,
    "auto_enable_autopay_on_payment_link": False,
}
DOCUMENT = {"settings": SETTINGS, "notification": {"emails": ["ops@example.com"], "locale": "fr"}}
