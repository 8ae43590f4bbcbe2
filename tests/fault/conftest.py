"""Fixtures of the fault suite: the servers each scenario needs, and the records it streams.

Every scenario runs the three services as processes (`portal-autopay run …`, see
`harness.System`), streams `workload.EVENTS` PaymentMethodAdded through them (`stream.Stream`),
injects one fault, and ends with the same invariants (`checker.check`).
"""

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.common import apache_kafka, embedded, kafka_jars
from services.common.config import Config
from services.common.contract import PAYMENT_METHOD_ADDED_TOPIC
from services.common.kafka import create_topics
from tests.fault import workload
from tests.fault.stream import Record, valid
from tests.infrastructure import apache_kafka_cluster


@pytest.fixture
def fault_config(config: Config, smtp_server) -> Config:
    """The test's own database, topics and groups, and emails to a real SMTP server."""
    return config.model_copy(update={"smtp_url": smtp_server.url})


@pytest.fixture
def records() -> list[Record]:
    return [valid(event) for event in workload.payment_methods_added()]


@pytest.fixture(scope="module")
def three_nodes() -> Iterator[apache_kafka.Cluster]:
    """Three Apache Kafka nodes (replication factor 3, min.insync.replicas 2), for a module."""
    if not kafka_jars.can_run():
        pytest.skip("a three-node cluster needs Java and Apache Kafka's jars")
    with apache_kafka_cluster(nodes=3) as cluster:
        yield cluster


async def on_three_nodes(config: Config, cluster: apache_kafka.Cluster, leader: int) -> Config:
    """`config` moved to the cluster (every node in its bootstrap list, as a deployment names
    them), its input partitions all led by node `leader`."""
    config = config.model_copy(
        update={
            "kafka_bootstrap_servers": cluster.bootstrap_servers,
            "kafka_topic_replication_factor": 3,
            "kafka_enable_idempotence": True,
        }
    )
    others = [node.node_id for node in cluster.nodes if node.node_id != leader]
    admin = AIOKafkaAdminClient(bootstrap_servers=config.kafka_bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(
                    config.topic(PAYMENT_METHOD_ADDED_TOPIC),
                    -1,
                    -1,
                    # The first replica is the preferred leader.
                    replica_assignments={p: [leader, *others] for p in range(3)},
                )
            ]
        )
    finally:
        await admin.close()
    await create_topics(config)
    return config


@pytest.fixture
def private_postgres() -> Iterator[tuple[object, str]]:
    """A PostgreSQL server of the scenario's own, which it may restart: (server, url).

    Its folder is outside pytest's (mode 0700): run as root, the server runs as an
    unprivileged user that must reach the data folder.
    """
    folder = Path(tempfile.mkdtemp(prefix="fault-pg-"))
    folder.chmod(0o755)
    server, url = embedded.start_postgres(folder / "pg")
    try:
        yield server, url
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)
