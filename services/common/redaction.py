"""Secrets never reach a log line, an answer or a start-up summary.

`mask_url` is the one way to show a URL that may carry a password. Logs pass, whole, through
`RedactingFormatter`: the configured secrets, URL passwords and bearer tokens become `***`,
whatever code wrote the line (ours, a library's, a traceback).
"""

import json
import logging
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit

from services.common.config import Config

MASK = "***"
_URL_PASSWORD = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s\"']*:)[^@\s\"']+@")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def mask_url(url: str) -> str:
    """The URL with its password, if any, replaced by `***`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{parts.username}:{MASK}@{host}").geturl()


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    text = _URL_PASSWORD.sub(rf"\1{MASK}@", text)
    text = _BEARER.sub(rf"\1{MASK}", text)
    return _JWT.sub(MASK, text)


def known_secrets(config: Config) -> list[str]:
    """The configured secret values, also as they look inside a JSON string."""
    values = [_password(config.database_url), _password(config.smtp_url)]
    values += [_query_secret(url) for url in (config.database_url, config.smtp_url)]
    for field in ("auth_jwt_secret", "kafka_sasl_password"):
        secret = getattr(config, field, None)
        values.append(secret.get_secret_value() if secret is not None else None)
    found = {value for value in values if value and len(value) >= 3}
    return sorted(found | {json.dumps(value)[1:-1] for value in found}, key=len, reverse=True)


def _password(url: str | None) -> str | None:
    return urlsplit(url).password if url else None


def _query_secret(url: str | None) -> str | None:
    # libpq also takes `?password=…`.
    query = dict(parse_qsl(urlsplit(url).query)) if url else {}
    return query.get("password")


class RedactingFormatter(logging.Formatter):
    def __init__(self, inner: logging.Formatter, secrets: Iterable[str]) -> None:
        super().__init__()
        self._inner, self._secrets = inner, list(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return redact(self._inner.format(record), self._secrets)


def protect_logs(config: Config) -> None:
    """Redact every line of the root logger's handlers (call after configuring logging)."""
    secrets = known_secrets(config)
    # FastStream writes through a coloured handler of its own: its lines go through ours.
    faststream = logging.getLogger("faststream")
    faststream.handlers.clear()
    faststream.propagate = True
    for handler in logging.getLogger().handlers:
        handler.setFormatter(RedactingFormatter(handler.formatter or logging.Formatter(), secrets))
