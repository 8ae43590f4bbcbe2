"""KRaft cluster ids for the Apache Kafka nodes the tests start."""

from services.common.kafka_node import new_cluster_id


def test_a_cluster_id_never_starts_with_a_dash_which_the_storage_tool_takes_for_an_option():
    # One id in 64 did (base64url), and `kafka-storage format -t -0uh4…` then failed.
    assert not any(new_cluster_id().startswith("-") for _ in range(2_000))
