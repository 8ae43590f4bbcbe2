"""Apache Kafka's jars, copied once from Maven Central into a cache, and how to run them.

`infra/apache-kafka/pom.xml` names the broker, the tools and a logging backend at the version
the project runs; `mvn dependency:copy-dependencies` copies them into
`~/.cache/portal-autopay/apache-kafka-<version>/`. Nothing is committed.
"""

import os
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

POM = Path(__file__).resolve().parents[2] / "infra" / "apache-kafka" / "pom.xml"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "portal-autopay"
HEAP = "-Xmx768m"


def version() -> str:
    """The Apache Kafka version the project runs (the pom's `kafka.version`)."""
    namespace = {"m": "http://maven.apache.org/POM/4.0.0"}
    found = ElementTree.parse(POM).find("m:properties/m:kafka.version", namespace)
    assert found is not None and found.text, f"{POM} names no kafka.version"
    return found.text


def can_run() -> bool:
    """Java is here, and Maven too unless the jars are cached already."""
    return shutil.which("java") is not None and (
        _jars_dir().is_dir() or shutil.which("mvn") is not None
    )


def jars() -> Path:
    """The folder of the broker's and tools' jars, copied from Maven Central on first use."""
    target = _jars_dir()
    if target.is_dir():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    # Copied beside the target and renamed: a concurrent copy or an interrupted one never
    # leaves a half-filled cache behind.
    with tempfile.TemporaryDirectory(dir=CACHE) as staging:
        subprocess.run(
            [
                "mvn",
                "--batch-mode",
                "--quiet",
                "-Dstyle.color=never",
                "--file",
                str(POM),
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={staging}/jars",
            ],
            check=True,
            cwd=staging,
        )
        try:
            os.rename(Path(staging) / "jars", target)
        except OSError:
            if not target.is_dir():
                raise
    return target


def _jars_dir() -> Path:
    return CACHE / f"apache-kafka-{version()}"


def java_command(main_class: str, *args: str, jvm_options: tuple[str, ...] = ()) -> list[str]:
    """Run one of Kafka's classes (broker, storage tool, console tools) from the cached jars."""
    return ["java", HEAP, *jvm_options, "-cp", f"{jars()}/*", main_class, *args]
