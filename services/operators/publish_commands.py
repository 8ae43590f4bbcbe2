"""`events publish …`: one valid CloudEvent of each kind an operator may need to send."""

import argparse
import sys
import typing

from pydantic import ValidationError

from services.common.config import Config
from services.common.contract import (
    AutopayChangeRequested,
    Channel,
    ContractModel,
    PaymentMethodAdded,
    PaymentMethodRemoved,
)
from services.common.envelope import describe
from services.operators.publish import publish
from services.operators.running import boolean, run


def register_publish(events: argparse._SubParsersAction) -> None:
    publish_parser = events.add_parser("publish", help="publish an event").add_subparsers(
        dest="event", required=True
    )
    added = publish_parser.add_parser(
        "payment-method-added", help="a customer saved a payment method"
    )
    added.add_argument("--merchant", required=True)
    added.add_argument("--customer", required=True)
    added.add_argument("--name", help="the customer's name (default: the customer id)")
    added.add_argument(
        "--box",
        type=boolean,
        metavar="true|false",
        help="'Use this payment method for AutoPay' as submitted (default: no box shown)",
    )
    added.add_argument("--channel", choices=typing.get_args(Channel), default="customer_portal")
    added.add_argument("--settings-version", type=int, help="the version the page showed")
    added.add_argument("--payment-method", default="pm_1", help="its id (default: pm_1)")
    added.add_argument("--type", choices=("card", "bank_account"), default="card")
    added.add_argument("--brand", default="visa")
    added.add_argument("--last4", default="4242")
    added.set_defaults(handler=_publish_payment_method_added)

    change = publish_parser.add_parser(
        "change-requested", help="a customer turns AutoPay on or off in the portal"
    )
    _customer_payment_method(change)
    change.add_argument("--auto-process", type=boolean, metavar="true|false", required=True)
    change.add_argument("--settings-version", type=int, help="the version the page showed")
    change.add_argument("--requested-by", help="the portal user (default: the customer id)")
    change.set_defaults(handler=_publish_change_requested)

    removed = publish_parser.add_parser(
        "payment-method-removed", help="a saved payment method was removed"
    )
    _customer_payment_method(removed)
    removed.add_argument("--channel", choices=typing.get_args(Channel), default="customer_portal")
    removed.set_defaults(handler=_publish_payment_method_removed)


def _customer_payment_method(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--merchant", required=True)
    parser.add_argument("--customer", required=True)
    parser.add_argument("--payment-method", default="pm_1", help="its id (default: pm_1)")


def _publish_payment_method_added(args: argparse.Namespace) -> int:
    document = {
        "merchant_id": args.merchant,
        "customer_id": args.customer,
        "customer_name": args.name or args.customer,
        "payment_method": {
            "id": args.payment_method,
            "type": args.type,
            "brand": args.brand,
            "last4": args.last4,
        },
        "channel": args.channel,
        "use_for_autopay": args.box,
        "portal_settings_version": args.settings_version,
    }
    return _publish(PaymentMethodAdded, document)


def _publish_change_requested(args: argparse.Namespace) -> int:
    document = {
        "merchant_id": args.merchant,
        "customer_id": args.customer,
        "payment_method_id": args.payment_method,
        "auto_process": args.auto_process,
        "portal_settings_version": args.settings_version,
        "requested_by": args.requested_by or args.customer,
    }
    return _publish(AutopayChangeRequested, document)


def _publish_payment_method_removed(args: argparse.Namespace) -> int:
    document = {
        "merchant_id": args.merchant,
        "customer_id": args.customer,
        "payment_method_id": args.payment_method,
        "channel": args.channel,
    }
    return _publish(PaymentMethodRemoved, document)


def _publish(model: type[ContractModel], document: dict) -> int:
    try:
        data = model.model_validate(document)
    except ValidationError as error:
        print(f"not a valid {model.__name__}: {describe(error)}", file=sys.stderr)
        return 2

    async def publish_and_print() -> None:
        published = await publish(Config(), data)
        print(f"id: {published.id}")
        print(
            f"topic: {published.topic} (partition {published.partition}, offset {published.offset})"
        )
        print(f"key: {published.key}")

    return run(publish_and_print())
