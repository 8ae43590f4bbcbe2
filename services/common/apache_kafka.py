"""Apache Kafka as real processes: its jars from Maven Central, KRaft mode, one or three nodes.

Used by the test fixtures, the benchmarks and `portal-autopay dev --broker apache-kafka`. The
jars come from the cache `kafka_jars` fills; `kafka_node` runs each node. Each node plays both
roles (broker and controller) on loopback ports; three nodes replicate every topic three
times with `min.insync.replicas=2`, as a production cluster would.
"""

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from services.common.backoff import Backoff
from services.common.embedded import free_port, stop_process, wait_for_port
from services.common.kafka_node import Node, new_cluster_id


class Cluster:
    """`size` Apache Kafka nodes in KRaft mode on loopback ports."""

    def __init__(
        self,
        folder: Path,
        size: int = 1,
        *,
        preferred_port: int | None = None,
        listeners: dict[str, str] | None = None,
        properties: dict[str, object] | None = None,
        scram_users: tuple[tuple[str, str, str], ...] = (),
    ) -> None:
        """`preferred_port`: the first node's client port, when it is free.

        For security tests: `listeners` adds listeners to the PLAINTEXT one (name → security
        protocol, e.g. `{"SASL": "SASL_PLAINTEXT", "TLS": "SSL"}`), each on a port of its own;
        `properties` adds or overrides server properties (the listeners' TLS keys, SASL
        mechanisms); `scram_users` are (mechanism, name, password) credentials stored when
        the storage is formatted. Without them, a plain PLAINTEXT cluster.
        """
        assert size in (1, 3), "one node, or three for replication"
        self.folder = folder
        self._listeners = listeners or {}
        self._extra_properties = properties or {}
        self._scram_users = scram_users
        self.nodes = [
            Node(
                node_id,
                free_port(preferred_port if node_id == 1 else None),
                free_port(),
                folder / f"node-{node_id}",
                extra_ports={name: free_port() for name in self._listeners},
            )
            for node_id in range(1, size + 1)
        ]

    def listener_servers(self, name: str) -> str:
        """The bootstrap servers of an extra listener."""
        return ",".join(node.listener_address(name) for node in self.nodes)

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(node.address for node in self.nodes)

    def start(self, timeout: float = 90.0) -> None:
        cluster_id = new_cluster_id()
        for node in self.nodes:
            node.prepare(cluster_id, self._properties(node), self._scram_users)
        for node in self.nodes:
            node.start()
        try:
            for node in self.nodes:
                wait_for_port("127.0.0.1", node.port, timeout=timeout)
            self.wait_until_serving(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        # All at once: a node stopped after the others waits for a controller quorum that is gone.
        running = [
            node.process for node in self.nodes if node.process and node.process.poll() is None
        ]
        for process in running:
            process.terminate()
        for process in running:
            stop_process(process, timeout=20)

    def wait_until_serving(self, timeout: float = 90.0) -> None:
        """Return once every node is registered with the controllers and answers clients."""
        with ThreadPoolExecutor(1) as thread:  # its own event loop, whatever the caller runs
            thread.submit(asyncio.run, self._registered(len(self.nodes), timeout)).result()

    async def _registered(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        # Short delays: a node starting is a matter of seconds, and tests wait for it.
        delays = Backoff(first=0.1, longest=0.5).delays()
        while True:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers)
            try:
                await admin.start()
                brokers = (await admin.describe_cluster())["brokers"]
                if len(brokers) >= count:
                    return
            except Exception:
                if time.monotonic() > deadline:
                    raise
            finally:
                await admin.close()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{count} Apache Kafka nodes not serving after {timeout}s")
            await asyncio.sleep(next(delays))

    def _properties(self, node: Node) -> str:
        replicas = len(self.nodes)
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)
        settings = {
            "process.roles": "broker,controller",
            "node.id": node.node_id,
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://{node.address},CONTROLLER://127.0.0.1:{node.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{node.address}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": node.folder / "data",
            "num.partitions": 3,
            "default.replication.factor": replicas,
            "min.insync.replicas": min(2, replicas),
            "offsets.topic.replication.factor": replicas,
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": min(2, replicas),
            # Tests and `dev` start consumer groups often: no delay before the first assignment.
            "group.initial.rebalance.delay.ms": 0,
        }
        for name, protocol in self._listeners.items():
            address = f"{name}://{node.listener_address(name)}"
            settings["listeners"] += f",{address}"
            settings["advertised.listeners"] += f",{address}"
            settings["listener.security.protocol.map"] += f",{name}:{protocol}"
        settings.update(self._extra_properties)
        return "".join(f"{key}={value}\n" for key, value in settings.items())
