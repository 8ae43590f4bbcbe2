"""`portal-autopay tokens create`, and the secret `portal-autopay dev` signs tokens with."""

import argparse
import re
import secrets
from pathlib import Path

from services.common.auth import MERCHANT_SCOPES, issue_token
from services.common.config import Config

DEV_SECRET_FILE = "auth-secret"
_DURATION = re.compile(r"^(\d+)([smhd])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def register(commands: argparse._SubParsersAction) -> None:
    tokens = commands.add_parser("tokens", help="API tokens").add_subparsers(
        dest="action", required=True
    )
    create = tokens.add_parser("create", help="print a token signed with AUTH_JWT_SECRET (HS256)")
    create.add_argument("--merchant", help="the one merchant the token may act for")
    create.add_argument(
        "--scope",
        default=" ".join(MERCHANT_SCOPES),
        help="space-separated scopes (default: %(default)s); add `platform` for any merchant",
    )
    create.add_argument("--subject", default="cli", help="who acts (recorded as updated_by)")
    create.add_argument("--ttl", type=duration, default="1h", help="lifetime: 30m, 1h, 7d…")
    create.set_defaults(handler=_create)


def duration(text: str) -> int:
    """`90s`, `30m`, `1h`, `7d` as seconds."""
    match = _DURATION.match(text)
    if match is None or int(match[1]) == 0:
        raise argparse.ArgumentTypeError("a duration such as 30m, 1h or 7d")
    return int(match[1]) * _SECONDS[match[2]]


def _create(args: argparse.Namespace) -> int:
    config = Config()
    if config.auth_jwt_secret is None:
        raise SystemExit("set AUTH_JWT_SECRET (the services' HS256 secret) to sign tokens")
    scopes = args.scope.split()
    if args.merchant is None and "platform" not in scopes:
        raise SystemExit("--merchant is required unless --scope includes platform")
    print(token_for(config, args.merchant, scopes, subject=args.subject, ttl=args.ttl))
    return 0


def token_for(
    config: Config, merchant: str | None, scopes: list[str], *, subject: str, ttl: int
) -> str:
    assert config.auth_jwt_secret is not None
    return issue_token(
        config.auth_jwt_secret.get_secret_value(),
        subject=subject,
        merchant_id=merchant,
        scopes=scopes,
        ttl_seconds=ttl,
        issuer=config.auth_issuer,
        audience=config.auth_audience,
    )


def dev_secret(var: Path) -> str:
    """The secret of `dev`, made once and kept (owner-only) so its tokens survive restarts."""
    path = var / DEV_SECRET_FILE
    if not path.exists():
        var.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))
    return path.read_text().strip()
