"""The Apache Kafka nodes the tests and `dev` start."""

import pytest

from services.common import apache_kafka, kafka_jars

pytestmark = pytest.mark.skipif(not kafka_jars.can_run(), reason="needs java (and mvn)")


def test_a_cluster_id_that_starts_with_a_dash_still_formats_the_storage(tmp_path, monkeypatch):
    # A random id starts with "-" once in 64 clusters; the storage tool must not take it
    # for an option.
    monkeypatch.setattr(apache_kafka, "new_cluster_id", lambda: "-Za9EhrwSCCPF3aaC5x-yA")
    cluster = apache_kafka.Cluster(tmp_path, 1)
    try:
        cluster.start()
        meta = (cluster.nodes[0].folder / "data" / "meta.properties").read_text()
        assert "cluster.id=-Za9EhrwSCCPF3aaC5x-yA" in meta
    finally:
        cluster.stop()
