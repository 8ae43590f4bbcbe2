"""How every Kafka client of every service and of the CLI connects: TLS, SASL, credentials.

One place turns the `KAFKA_SECURITY_PROTOCOL` family of settings into the options of
aiokafka's clients and of FastStream's brokers, so that producers, consumers and the admin
client always connect the same way.
"""

import ssl
from typing import Any

from aiokafka.helpers import create_ssl_context
from faststream.security import (
    BaseSecurity,
    SASLPlaintext,
    SASLScram256,
    SASLScram512,
)

from services.common.config import Config

_FASTSTREAM_SASL = {
    "PLAIN": SASLPlaintext,
    "SCRAM-SHA-256": SASLScram256,
    "SCRAM-SHA-512": SASLScram512,
}


def ssl_context(config: Config) -> ssl.SSLContext | None:
    """The TLS context of SSL and SASL_SSL: the CA to trust, and our own certificate if any."""
    if not config.kafka_security_protocol.endswith("SSL"):
        return None
    return create_ssl_context(
        cafile=_path(config.kafka_ssl_cafile),
        certfile=_path(config.kafka_ssl_certfile),
        keyfile=_path(config.kafka_ssl_keyfile),
    )


def client_options(config: Config) -> dict[str, Any]:
    """Keyword arguments of aiokafka's producer, consumer and admin client."""
    options: dict[str, Any] = {"security_protocol": config.kafka_security_protocol}
    if context := ssl_context(config):
        options["ssl_context"] = context
    if config.kafka_security_protocol.startswith("SASL"):
        options.update(
            sasl_mechanism=config.kafka_sasl_mechanism,
            sasl_plain_username=config.kafka_sasl_username,
            sasl_plain_password=_password(config),
        )
    return options


def broker_security(config: Config) -> BaseSecurity | None:
    """The same, for a FastStream broker."""
    context = ssl_context(config)
    if config.kafka_security_protocol.startswith("SASL"):
        sasl = _FASTSTREAM_SASL[config.kafka_sasl_mechanism]
        return sasl(
            config.kafka_sasl_username or "",
            _password(config),
            ssl_context=context,
            use_ssl=context is not None,
        )
    if context is not None:
        return BaseSecurity(ssl_context=context, use_ssl=True)
    return None


def describe(config: Config) -> str:
    """How we connect, for an error message: never the password."""
    how = config.kafka_security_protocol
    if how.startswith("SASL"):
        how += f" {config.kafka_sasl_mechanism} as {config.kafka_sasl_username!r}"
    return f"{config.kafka_bootstrap_servers} ({how})"


def _password(config: Config) -> str:
    secret = config.kafka_sasl_password
    return secret.get_secret_value() if secret is not None else ""


def _path(value: object) -> str | None:
    return str(value) if value else None
