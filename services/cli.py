"""`portal-autopay`: run a service, the whole system, or the operator and contract tools."""

import argparse
import asyncio
import functools
import gc
import importlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import uvicorn

from services import tokens
from services.common import apache_kafka, embedded, outage
from services.common.auth import MERCHANT_SCOPES, AuthNotConfigured
from services.common.config import DEFAULT_HTTP_PORTS, Config
from services.common.kafka import create_topics
from services.common.logs import configure_logging
from services.common.redaction import mask_url, protect_logs
from services.common.schemas_export import drifted, export

SERVICES = tuple(DEFAULT_HTTP_PORTS)
DEV_MERCHANT = "shop-42"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="portal-autopay", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run one service")
    run.add_argument("service", choices=SERVICES)
    run.set_defaults(handler=_run)

    dev = commands.add_parser("dev", help="run the whole system on the embedded default")
    dev.add_argument("--var", type=Path, default=Path("var"), help="where data and logs go")
    dev.add_argument(
        "--broker",
        choices=("embedded", "apache-kafka"),
        default="embedded",
        help="the broker to start when KAFKA_BOOTSTRAP_SERVERS names none: the embedded one "
        "(Python only) or Apache Kafka from its Maven Central jars (needs java and mvn)",
    )
    dev.set_defaults(handler=_dev)

    topics = commands.add_parser("topics", help="manage topics").add_subparsers(
        dest="action", required=True
    )
    create = topics.add_parser("create", help="create the topics (idempotent)")
    create.add_argument("--partitions", type=int)
    create.add_argument("--replication-factor", type=int)
    create.set_defaults(handler=_topics_create)

    schemas = commands.add_parser("schemas", help="the published contract").add_subparsers(
        dest="action", required=True
    )
    export_parser = schemas.add_parser("export", help="write JSON Schemas and AsyncAPI")
    export_parser.add_argument("--out", type=Path, default=Path("schemas"))
    export_parser.add_argument(
        "--check", action="store_true", help="write nothing; fail if the files differ"
    )
    export_parser.set_defaults(handler=_schemas_export)

    for module in ("services.notifier.cli", "services.operators.cli", "services.tokens"):
        importlib.import_module(module).register(commands)

    args = parser.parse_args(argv)
    sys.exit(args.handler(args) or 0)


def _run(args: argparse.Namespace) -> None:
    config = Config()
    configure_logging(config.log_level, service=args.service)
    try:
        app = importlib.import_module(f"services.{args.service}.app").create_app(config)
    except AuthNotConfigured as error:
        raise SystemExit(f"{args.service} cannot start: {error}") from None
    # After the imports: the libraries' loggers (FastStream's) exist by then.
    protect_logs(config)
    outage.watch_library_retries()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=config.http_host,
            port=config.port_for(args.service),
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=config.shutdown_grace_seconds,
        )
    )
    # uvicorn re-raises the stop signal once it has shut down, with the handler it found: so
    # that a clean stop exits 0 rather than dying of SIGTERM, the handler it finds ignores it.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, signal.SIG_IGN)
    # What the imports built (modules, classes, pydantic's validators) lives as long as the
    # process: out of the collector's sight, a full collection no longer walks it. Measured at
    # 2,000 events/s: full collections paused autopay for ~80 ms, above its p99 latency.
    gc.freeze()
    # A full collection walks every object alive, the batches' records and events included
    # (freed by their counts anyway, once handled): by default one ran every ten middle-
    # generation collections. Draining 60,000 events, autopay ran 15 of them, ~50 ms each;
    # ten times rarer, 2, and its CPU per event fell by an eighth (`benchmarks.autopay`).
    # Cycles that die young still go in the younger generations' collections, as before.
    gc.set_threshold(700, 10, 100)
    server.run()


def _topics_create(args: argparse.Namespace) -> None:
    overrides = {
        name: value
        for name, value in (
            ("kafka_topic_partitions", args.partitions),
            ("kafka_topic_replication_factor", args.replication_factor),
        )
        if value is not None
    }
    config = Config(**overrides)
    created = asyncio.run(create_topics(config))
    print("created:", ", ".join(created) if created else "nothing (all topics exist)")


def _schemas_export(args: argparse.Namespace) -> int:
    if args.check:
        stale = drifted(args.out)
        for name in stale:
            print(f"{args.out / name} differs from the models: run `make schemas`", file=sys.stderr)
        return 1 if stale else 0
    for path in export(args.out):
        print(path)
    return 0


def _dev(args: argparse.Namespace) -> int:
    """Start what is not configured (broker, PostgreSQL), then the three services."""
    var: Path = args.var.resolve()
    env = dict(os.environ)
    env.setdefault("MAIL_OUTBOX_DIR", str(var / "mail"))
    stop_broker: Callable[[], None] | None = None
    postgres = None
    children: list[subprocess.Popen] = []
    # Ctrl-C reaches the whole process group; the children stop on their own signal. Both
    # handlers are set explicitly: a shell starting us in the background ignores SIGINT.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        if "KAFKA_BOOTSTRAP_SERVERS" not in env:
            env["KAFKA_BOOTSTRAP_SERVERS"], stop_broker = _start_broker(args.broker, var)
            if args.broker == "embedded":
                env.update(embedded.BROKER_SETTINGS)
        if "DATABASE_URL" not in env:
            postgres, env["DATABASE_URL"] = embedded.start_postgres(var / "pgdata")
        if "AUTH_JWT_SECRET" not in env and "AUTH_JWKS_URL" not in env:
            env["AUTH_JWT_SECRET"] = tokens.dev_secret(var)
        config = Config(_env_file=None, **_config_overrides(env))
        asyncio.run(create_topics(config))
        log_dir = var / "log"
        log_dir.mkdir(parents=True, exist_ok=True)
        for service in SERVICES:
            with (log_dir / f"{service}.log").open("ab") as log:
                children.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "services.cli", "run", service],
                        env={**env, "HTTP_PORT": str(config.port_for(service))},
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        _wait_until_ready(config, children)
        _print_summary(config, var)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        print("a service stopped; see", log_dir, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping…")
        return 0
    finally:
        for child in children:
            embedded.stop_process(child, timeout=15)
        if stop_broker is not None:
            stop_broker()
        if postgres is not None:
            postgres.cleanup()


def _start_broker(kind: str, var: Path) -> tuple[str, Callable[[], None]]:
    """Start the chosen broker, on port 9092 when it is free; return its address and a stop."""
    if kind == "apache-kafka":
        cluster = apache_kafka.Cluster(var / "kafka", preferred_port=9092)
        cluster.start()
        return cluster.bootstrap_servers, cluster.stop
    port = embedded.free_port(preferred=9092)
    process = embedded.start_broker(port, var / "log" / "broker.log")
    return f"127.0.0.1:{port}", functools.partial(embedded.stop_process, process)


def _config_overrides(env: dict[str, str]) -> dict[str, str]:
    names = (
        "KAFKA_BOOTSTRAP_SERVERS",
        "KAFKA_ENABLE_IDEMPOTENCE",
        "DATABASE_URL",
        "MAIL_OUTBOX_DIR",
        "AUTH_JWT_SECRET",
    )
    return {name.lower(): env[name] for name in names if name in env}


def _wait_until_ready(config: Config, children: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + 60
    pending = set(SERVICES)
    while pending:
        if time.monotonic() > deadline or any(child.poll() is not None for child in children):
            raise SystemExit(f"not ready: {', '.join(sorted(pending))} (see var/log/)")
        for service in sorted(pending):
            try:
                url = f"http://{config.http_host}:{config.port_for(service)}/readyz"
                if httpx.get(url, timeout=1).status_code == 200:
                    pending.discard(service)
            except httpx.HTTPError:
                pass
        time.sleep(0.2)


def _print_summary(config: Config, var: Path) -> None:
    print("portal-autopay is running (Ctrl-C stops everything)")
    print(f"  kafka      {config.kafka_bootstrap_servers}")
    print(f"  postgres   {mask_url(config.database_url)}")
    print(f"  mail       {config.mail_outbox_dir}  (one .eml file per email)")
    for service in SERVICES:
        print(f"  {service:<10} http://{config.http_host}:{config.port_for(service)}")
    print(f"  logs       {var / 'log'}")
    if config.auth_jwt_secret is not None:
        token = tokens.token_for(
            config, DEV_MERCHANT, list(MERCHANT_SCOPES), subject="dev", ttl=12 * 3600
        )
        print(f"A token for merchant {DEV_MERCHANT} (12 h), for the README's examples:")
        print(f"  export TOKEN={token}")
        print(
            f"  more: AUTH_JWT_SECRET=$(cat {var / tokens.DEV_SECRET_FILE}) "
            "portal-autopay tokens create --merchant M"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
