"""One Apache Kafka node in KRaft mode as a process: its configuration files, its storage,
and what the fault tests do to it (stop, `kill -9`, pause). `apache_kafka.Cluster` runs one or
three of them."""

import base64
import signal
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from services.common.embedded import stop_process
from services.common.kafka_jars import java_command

# Kafka's own logs go to the node's log file, at INFO for the server's life cycle.
LOG4J2 = """\
status = error
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = OUT
logger.server.name = kafka.server
logger.server.level = INFO
"""


@dataclass
class Node:
    """One KRaft node (broker and controller); its data and log stay in `folder`."""

    node_id: int
    port: int
    controller_port: int
    folder: Path
    process: subprocess.Popen | None = field(default=None, repr=False)
    # Listeners besides PLAINTEXT, by name: their ports (see Cluster's `listeners`).
    extra_ports: dict[str, int] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def listener_address(self, name: str) -> str:
        return f"127.0.0.1:{self.extra_ports[name]}"

    def prepare(
        self, cluster_id: str, properties: str, scram_users: tuple[tuple[str, str, str], ...]
    ) -> None:
        """Write the node's configuration; format its storage unless an earlier start did.

        `scram_users`: (mechanism, name, password) credentials stored by the format."""
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "server.properties").write_text(properties)
        (self.folder / "log4j2.properties").write_text(LOG4J2)
        if (self.folder / "data" / "meta.properties").exists():
            return  # formatted by an earlier start: keep its data
        scram = [
            argument
            for mechanism, name, password in scram_users
            for argument in ("--add-scram", f"{mechanism}=[name={name},password={password}]")
        ]
        subprocess.run(
            # `--cluster-id=…` in one argument: a random id may start with "-".
            java_command(
                "kafka.tools.StorageTool",
                "format",
                f"--cluster-id={cluster_id}",
                *("--config", str(self.folder / "server.properties"), *scram),
            ),
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        log4j = self.folder / "log4j2.properties"
        with (self.folder / "kafka.log").open("ab") as log:
            self.process = subprocess.Popen(
                java_command(
                    "kafka.Kafka",
                    str(self.folder / "server.properties"),
                    jvm_options=(f"-Dlog4j2.configurationFile={log4j}",),
                ),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, timeout=30)

    def kill(self) -> None:
        """`kill -9`: no clean shutdown, as a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, base64url without padding (as `random-uuid`).

    Never one starting with "-", which the storage tool would take for an option (Kafka's own
    `Uuid.randomUuid` draws again too).
    """
    while True:
        drawn = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not drawn.startswith("-"):
            return drawn
