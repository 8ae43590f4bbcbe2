"""The one configuration class: every process builds it once, from the environment."""

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ServiceName = Literal["settings", "autopay", "notifier"]

DEFAULT_HTTP_PORTS: dict[str, int] = {"settings": 8081, "autopay": 8082, "notifier": 8083}


class Config(BaseSettings):
    """Environment variables, validated. Names are the upper-cased field names."""

    # Errors never quote a value: it may be a password or a secret.
    model_config = SettingsConfigDict(
        env_prefix="", case_sensitive=False, frozen=True, hide_input_in_errors=True
    )

    kafka_bootstrap_servers: str = "localhost:9092"
    # Idempotent producers: a retried send never duplicates a record. The embedded broker
    # (tansu) refuses them, so `portal-autopay dev` turns them off there.
    kafka_enable_idempotence: bool = True
    # Prepended to every topic and consumer group: lets environments (or tests) share a cluster.
    kafka_topic_prefix: str = ""
    kafka_topic_partitions: int = Field(default=6, ge=1)
    kafka_topic_replication_factor: int = Field(default=1, ge=1)
    # Consumer groups: how long a silent member keeps its partitions. Apache Kafka refuses
    # less than its `group.min.session.timeout.ms` (6 s by default).
    kafka_session_timeout_ms: int = Field(default=10_000, ge=500)
    # How long a consumer pauses after a poll that brought nothing: short, for latency.
    kafka_batch_timeout_ms: int = Field(default=10, ge=0)
    # How every Kafka client connects (services/common/kafka_security.py).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None

    database_url: str = "postgresql://postgres@localhost:5432/postgres"
    database_pool_size: int = Field(default=10, ge=1)
    # How long the ids of handled events are kept for dedupe: longer than the topics' retention,
    # so that a replay of anything still on a topic changes nothing.
    dedupe_retention_days: int = Field(default=30, ge=1)

    smtp_url: str | None = None
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    # The CA of the SMTP server's certificate (STARTTLS, smtps), when not a system one.
    smtp_ca_file: Path | None = None
    mail_from: str = "Portal AutoPay <no-reply@portal-autopay.localhost>"
    mail_outbox_dir: Path = Path("var/mail")
    # How long an email that keeps failing temporarily is retried before it is given up.
    notifier_give_up_after: timedelta = Field(default=timedelta(days=3), gt=timedelta(0))

    http_host: str = "127.0.0.1"
    # None means the service's own default port (DEFAULT_HTTP_PORTS).
    http_port: int | None = Field(default=None, ge=0, le=65535)

    # autopay: how long a payment method waits for the settings version its page showed.
    autopay_settings_wait_seconds: float = Field(default=5.0, ge=0)
    # autopay: how much the broker gathers before it answers a fetch of payment methods, and
    # for how long at most (about one batch's handling): see `autopay.subscribers`. `dev`
    # asks the embedded broker for 1 byte, as its holding of a fetch made the tail slower.
    autopay_fetch_min_bytes: int = Field(default=1024 * 1024, ge=1)
    autopay_fetch_max_wait_ms: int = Field(default=20, ge=0)
    # notifier: how long a choice waits for the settings version it was made under.
    notifier_settings_wait_seconds: float = Field(default=10.0, ge=0)

    # How long a stopping service may take to finish the work in hand (HTTP requests, the
    # email being sent) before it lets go of it.
    shutdown_grace_seconds: float = Field(default=10.0, gt=0)
    # API tokens: the identity provider's keys (all three), or a shared HS256 secret.
    auth_jwks_url: str | None = None
    auth_issuer: str | None = None
    auth_audience: str | None = None
    auth_jwt_secret: SecretStr | None = Field(default=None, min_length=32)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def dedupe_retention(self) -> timedelta:
        return timedelta(days=self.dedupe_retention_days)

    @property
    def kafka_bootstrap_list(self) -> list[str]:
        """The brokers one by one: FastStream takes a comma-separated string for one host."""
        return [server.strip() for server in self.kafka_bootstrap_servers.split(",") if server]

    def topic(self, name: str) -> str:
        return f"{self.kafka_topic_prefix}{name}"

    def group(self, service: ServiceName) -> str:
        return f"{self.kafka_topic_prefix}portal-autopay.{service}"

    def port_for(self, service: ServiceName) -> int:
        return DEFAULT_HTTP_PORTS[service] if self.http_port is None else self.http_port
