"""Which failures are worth retrying, and what may be said about them."""

import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError

from services.common.consumer import is_transient
from services.common.logs import describe_failure


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.NumericValueOutOfRangeError,  # 22003
        asyncpg.InvalidTextRepresentationError,  # 22P02
        asyncpg.DataError,  # 22000, also what asyncpg raises for a value it cannot encode
        asyncpg.UniqueViolationError,  # 23505
        asyncpg.CheckViolationError,  # 23514
        asyncpg.NotNullViolationError,  # 23502
    ],
)
def test_errors_about_the_records_values_are_poison(error):
    assert not is_transient(error("about a value"))


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.ReadOnlySQLTransactionError,  # 25006
        asyncpg.DiskFullError,  # 53100
        asyncpg.OutOfMemoryError,  # 53200
        asyncpg.TooManyConnectionsError,  # 53300
        asyncpg.QueryCanceledError,  # 57014
        asyncpg.LockNotAvailableError,  # 55P03
        asyncpg.IdleInTransactionSessionTimeoutError,  # 25P03
        asyncpg.AdminShutdownError,  # 57P01
        asyncpg.SerializationError,  # 40001
        asyncpg.UndefinedTableError,  # 42P01: a deployment's problem, not the record's
        asyncpg.ConnectionDoesNotExistError,
        asyncpg.InterfaceError,
        ConnectionRefusedError,
        KafkaConnectionError,
    ],
)
def test_every_other_database_error_and_an_unreachable_server_are_transient(error):
    assert is_transient(error("about the server"))


def test_a_bug_in_our_code_is_neither_transient_nor_a_database_error():
    assert not is_transient(KeyError("4111111111111111"))


def test_a_failure_is_described_by_its_kind_and_place_never_by_its_message():
    try:
        raise asyncpg.NumericValueOutOfRangeError('value "4111111111111111" is out of range')
    except asyncpg.PostgresError as error:
        described = describe_failure(error)
    assert described.startswith("NumericValueOutOfRangeError SQLSTATE 22003 at test_failures.py:")
    assert "4111" not in described
    assert describe_failure(KafkaConnectionError("broker:9092 unreachable")) == (
        "KafkaConnectionError (KafkaConnectionError: broker:9092 unreachable)"
    )
