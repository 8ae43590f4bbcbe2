"""docker-compose.yml cannot run here (no Docker engine); these checks keep it honest."""

from pathlib import Path

import yaml

from services.common import kafka_jars
from services.common.config import Config

ROOT = Path(__file__).parents[3]
KNOWN_VARIABLES = {name.upper() for name in Config.model_fields}


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def our_services() -> dict[str, dict]:
    return {name: spec for name, spec in compose()["services"].items() if "build" in spec}


def test_every_variable_set_for_our_services_is_one_the_configuration_knows():
    for name, spec in our_services().items():
        unknown = set(spec.get("environment", {})) - KNOWN_VARIABLES
        assert not unknown, f"{name} sets {sorted(unknown)}, which Config does not read"


def test_the_stack_runs_the_three_services_the_topic_job_kafka_postgres_and_mailpit():
    services = compose()["services"]
    assert {"kafka", "postgres", "mailpit", "topics"} <= set(services)
    commands = {tuple(spec["command"]) for spec in our_services().values()}
    assert commands == {
        ("topics", "create"),
        ("run", "settings"),
        ("run", "autopay"),
        ("run", "notifier"),
    }
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_apache_kafka_gets_idempotent_producers_and_its_own_topics():
    for name in ("settings", "autopay", "notifier"):
        assert our_services()[name]["environment"]["KAFKA_ENABLE_IDEMPOTENCE"] == "true"
    kafka = compose()["services"]["kafka"]["environment"]
    assert kafka["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_compose_runs_the_apache_kafka_version_of_the_tests():
    image = compose()["services"]["kafka"]["image"]
    assert image == f"apache/kafka:{kafka_jars.version()}"


def test_readiness_is_checked_over_the_network_and_kafka_keeps_its_data():
    postgres_check = " ".join(compose()["services"]["postgres"]["healthcheck"]["test"])
    assert "pg_isready -h" in postgres_check
    assert "kafkadata" in compose()["volumes"]
    assert (
        compose()["services"]["kafka"]["environment"]["KAFKA_LOG_DIRS"]
        in (compose()["services"]["kafka"]["volumes"][0])
    )
