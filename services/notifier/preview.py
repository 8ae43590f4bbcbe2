"""Every template rendered with sample data, for people (and golden tests) to look at."""

from datetime import UTC, datetime
from pathlib import Path

from services.common.contract import PaymentMethod
from services.notifier.domain import LOCALES, EmailFacts, Template, payment_method_label
from services.notifier.mime import build
from services.notifier.rendering import Renderer

SAMPLE_TIME = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)
SAMPLE_METHODS = {
    Template.ENROLLED: PaymentMethod(id="pm_sample", type="card", brand="visa", last4="4242"),
    Template.DECLINED: PaymentMethod(id="pm_sample", type="bank_account", last4="6789"),
    Template.TURNED_ON: PaymentMethod(id="pm_sample", type="card", brand="amex", last4="0005"),
    Template.TURNED_OFF: PaymentMethod(id="pm_sample", type="card", brand="visa", last4="4242"),
}


def sample_facts(template: Template, locale: str) -> EmailFacts:
    """An enrolled card, a declined bank account whose box had been checked by default, and
    cards whose AutoPay the customer turned on and off later."""
    return EmailFacts(
        customer_name="Ada Lovelace",
        customer_id="cus_1815",
        payment_method=payment_method_label(SAMPLE_METHODS[template], locale),
        box_default_checked=template is Template.DECLINED,
        occurred_at=SAMPLE_TIME,
        reference=f"evt_sample_{template}",
    )


def write_previews(out: Path, *, mail_from: str) -> list[Path]:
    """`<template>.<locale>.eml` (the whole message) and `.html` (to open in a browser)."""
    out.mkdir(parents=True, exist_ok=True)
    renderer = Renderer()
    written = []
    for template in Template:
        for locale in LOCALES:
            rendered = renderer.render(template, locale, sample_facts(template, locale))
            email = build(
                rendered,
                sender=mail_from,
                recipient="billing@merchant.example",
                message_id=f"<preview.{template}.{locale}@portal-autopay.localhost>",
                date=SAMPLE_TIME,
            )
            eml = out / f"{template}.{locale}.eml"
            eml.write_bytes(email.data)
            html = out / f"{template}.{locale}.html"
            html.write_text(rendered.html, encoding="utf-8")
            written += [eml, html]
    return written
