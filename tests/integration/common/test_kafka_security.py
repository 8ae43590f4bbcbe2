"""Every Kafka client over SASL SCRAM and over TLS, against Apache Kafka with such listeners."""

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from pydantic import SecretStr

from services.common import apache_kafka, kafka_jars
from services.common.contract import (
    AUTOPAY_CHOICE_RECORDED_TOPIC,
    SETTINGS_CHANGED_TOPIC,
)
from services.common.embedded import free_port
from services.common.kafka import create_topics
from tests.auth import bearer
from tests.integration.autopay.events import autopay_in_process, payment_method_added
from tests.support import ServiceProcess, TopicReader, publish, service_environment

pytestmark = pytest.mark.skipif(not kafka_jars.can_run(), reason="needs java and mvn")

USER, PASSWORD = "alice", "alice-Scram-Secret-1"
SETTINGS_URL = "/v1/merchants/shop-42/portal-settings"


def pkcs8_key_and_chain(cert: trustme.LeafCert) -> bytes:
    """Kafka's PEM key stores take PKCS#8 keys; trustme writes SEC1 ones."""
    key = serialization.load_pem_private_key(cert.private_key_pem.bytes(), password=None)
    pkcs8 = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pkcs8 + b"".join(blob.bytes() for blob in cert.cert_chain_pems)


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    """A node with PLAINTEXT (the tests' own access), SASL_PLAINTEXT (SCRAM) and SSL listeners."""
    folder = tmp_path_factory.mktemp("secured-kafka")
    ca = trustme.CA()
    (folder / "server.pem").write_bytes(pkcs8_key_and_chain(ca.issue_cert("127.0.0.1")))
    ca.cert_pem.write_to_path(folder / "ca.pem")
    trustme.CA().cert_pem.write_to_path(folder / "other-ca.pem")
    cluster = apache_kafka.Cluster(
        folder / "kafka",
        listeners={"SASL": "SASL_PLAINTEXT", "TLS": "SSL"},
        properties={
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "listener.name.sasl.scram-sha-512.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
            "listener.name.tls.ssl.keystore.type": "PEM",
            "listener.name.tls.ssl.keystore.location": folder / "server.pem",
        },
        scram_users=(("SCRAM-SHA-512", USER, PASSWORD),),
    )
    cluster.start()
    yield cluster, folder
    cluster.stop()


@pytest.fixture
async def plain(config, secured):
    """This test's configuration on the secured node's PLAINTEXT listener, topics made."""
    cluster, _ = secured
    config = config.model_copy(
        update={
            "kafka_bootstrap_servers": cluster.bootstrap_servers,
            "kafka_topic_prefix": f"s{uuid.uuid4().hex[:8]}.",
        }
    )
    await create_topics(config)
    return config


def over_sasl(config, cluster, password: str = PASSWORD):
    return config.model_copy(
        update={
            "kafka_bootstrap_servers": cluster.listener_servers("SASL"),
            "kafka_security_protocol": "SASL_PLAINTEXT",
            "kafka_sasl_mechanism": "SCRAM-SHA-512",
            "kafka_sasl_username": USER,
            "kafka_sasl_password": SecretStr(password),
        }
    )


def over_tls(config, cluster, ca: Path):
    return config.model_copy(
        update={
            "kafka_bootstrap_servers": cluster.listener_servers("TLS"),
            "kafka_security_protocol": "SSL",
            "kafka_ssl_cafile": ca,
        }
    )


def security_env(config) -> dict[str, str]:
    env = service_environment(config, KAFKA_SECURITY_PROTOCOL=config.kafka_security_protocol)
    if config.kafka_sasl_username:
        env.update(
            KAFKA_SASL_MECHANISM=config.kafka_sasl_mechanism,
            KAFKA_SASL_USERNAME=config.kafka_sasl_username,
            KAFKA_SASL_PASSWORD=config.kafka_sasl_password.get_secret_value(),
        )
    if config.kafka_ssl_cafile:
        env["KAFKA_SSL_CAFILE"] = str(config.kafka_ssl_cafile)
    return env


async def a_change_is_published(secure_config, plain_config) -> None:
    """The settings service, as a process on the secured listener, saves and publishes."""
    env = security_env(secure_config)
    created = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "services.cli", "topics", "create"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    service = ServiceProcess("settings", secure_config, free_port(), **env).start()
    try:
        await service.wait_ready(timeout=60)
        async with httpx.AsyncClient(base_url=service.url, headers=bearer("shop-42")) as client:
            saved = await client.patch(SETTINGS_URL, json={"notification": {"locale": "fr"}})
            assert saved.status_code == 200
        async with TopicReader(plain_config, SETTINGS_CHANGED_TOPIC) as reader:
            await reader.wait_for(1, timeout=30)
    finally:
        service.stop()


async def test_every_client_works_over_sasl_scram_with_the_right_password(plain, secured):
    cluster, _ = secured
    await a_change_is_published(over_sasl(plain, cluster), plain)
    # The consumers (FastStream) and producers of autopay, in process, over SASL too.
    async with autopay_in_process(over_sasl(plain, cluster)):
        await publish(plain, payment_method_added("m", "c1", channel="payment_link"))
        async with TopicReader(plain, AUTOPAY_CHOICE_RECORDED_TOPIC) as reader:
            await reader.wait_for(1, timeout=60)


async def test_every_client_works_over_tls_with_the_test_ca(plain, secured):
    cluster, folder = secured
    await a_change_is_published(over_tls(plain, cluster, folder / "ca.pem"), plain)


@pytest.mark.parametrize("wrong", ["password", "ca"])
async def test_wrong_credentials_stop_the_service_at_start_up_saying_why(plain, secured, wrong):
    cluster, folder = secured
    secure = (
        over_sasl(plain, cluster, password="not-the-password")
        if wrong == "password"
        else over_tls(plain, cluster, folder / "other-ca.pem")
    )
    service = ServiceProcess("settings", secure, free_port(), **security_env(secure)).start()
    try:
        assert await asyncio.to_thread(service.process.wait, 90) != 0
    finally:
        service.stop()
    why = {"password": "SaslAuthenticationFailed", "ca": "CERTIFICATE_VERIFY_FAILED"}[wrong]
    assert "cannot connect to Kafka at 127.0.0.1:" in service.log()
    assert why in service.log()
    assert "not-the-password" not in service.log()
