"""PostgreSQL: the connection pool and the migrations runner every service shares."""

import hashlib
import socket
from pathlib import Path

import asyncpg
from pydantic_core import to_json

TRANSIENT_DB_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    # A server shutting down or restarting terminates the sessions it has (57P01, 57P02).
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    # A connection that such a shutdown broke fails its reset on release this way; the pool
    # then drops it, and the retry gets a new one.
    asyncpg.InternalClientError,
    asyncpg.TooManyConnectionsError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
)
"""Errors after which the same work, retried later, can succeed (server restarting, conflict)."""

# SQLSTATE classes of the errors a record's own values cause: data exceptions (a value out of
# range, a malformed one) and integrity constraint violations.
VALUE_ERROR_CLASSES = frozenset({"22", "23"})


def caused_by_values(error: BaseException) -> bool:
    """Whether a database error is about the values written, so that retrying cannot help.

    Every other database error is about the server or the session (read-only after a
    failover, disk full, out of memory, too many connections, a cancelled query, a lock or
    idle-in-transaction timeout, a shutdown, a lost connection): the same work succeeds later.
    """
    # asyncpg raises a value it cannot encode for its parameter as DataError (22000) too.
    sqlstate = getattr(error, "sqlstate", None) or ""
    return isinstance(error, asyncpg.PostgresError) and sqlstate[:2] in VALUE_ERROR_CLASSES


def is_transient(error: BaseException) -> bool:
    """Whether a database error is worth retrying later (see `caused_by_values`)."""
    database_error = isinstance(error, (asyncpg.PostgresError, *TRANSIENT_DB_ERRORS))
    return database_error and not caused_by_values(error)


def as_json(rows: object) -> str:
    """Many rows as one JSON parameter, for `json_to_recordset` and its kin.

    Batch statements take their rows this way rather than as one array parameter per column:
    asyncpg checks every element of an array parameter against `collections.abc` (two checks
    per string, measured at a third of the autopay statement's client time), while
    pydantic-core writes lists of dataclasses as JSON in C and PostgreSQL parses it in C.
    """
    return to_json(rows).decode()


# Room for a whole statement in the kernel: autopay's decisions send ~300 KB at once (250
# events). With the default buffer about half of them went out in part, and the rest waited
# for the event loop, busy deciding the next chunk: PostgreSQL sat idle meanwhile. Linux caps
# it at twice `net.core.wmem_max` (0.4 MB by default: still room for one).
SEND_BUFFER_BYTES = 4 * 1024 * 1024


async def create_pool(database_url: str, *, size: int = 10) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        database_url, min_size=1, max_size=size, command_timeout=30, init=_large_send_buffer
    )


async def _large_send_buffer(connection: asyncpg.Connection) -> None:
    # asyncpg has no setting for it; its transport is the way to the socket.
    connection_socket = connection._transport.get_extra_info("socket")
    connection_socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)


class MigrationChanged(Exception):
    """An applied migration's file no longer has the content that was applied."""


async def migrate(pool: asyncpg.Pool, schema: str, *directories: Path) -> list[str]:
    """Apply the `NNNN_*.sql` files of `directories` not yet recorded in `<schema>.migrations`.

    Files run in the order of their names, across directories (shared pieces such as the
    outbox are numbered 0000 so they come first).

    Each file runs in its own transaction with its record and checksum, so a failure leaves
    nothing half applied. An applied file whose content changed raises `MigrationChanged`
    before anything runs: its edit would otherwise never reach this database. Records made
    before checksums were kept take the file's checksum on first sight. An advisory lock per
    schema makes instances that start at once take turns: the second finds everything
    applied. Returns the names it applied.
    """
    files = sorted(
        (path for folder in directories for path in folder.glob("[0-9]*_*.sql")),
        key=lambda path: path.name,
    )
    applied: list[str] = []
    async with pool.acquire() as connection:
        lock_key = advisory_lock_key(f"migrations:{schema}")
        await connection.execute("SELECT pg_advisory_lock($1)", lock_key)
        try:
            done = await _applied_checksums(connection, schema)
            await _check_unchanged(connection, schema, files, done)
            for path in files:
                if path.name in done:
                    continue
                async with connection.transaction():
                    await connection.execute(f'SET LOCAL search_path TO "{schema}"')
                    await connection.execute(path.read_text())
                    await connection.execute(
                        f'INSERT INTO "{schema}".migrations (name, checksum) VALUES ($1, $2)',
                        path.name,
                        checksum(path),
                    )
                applied.append(path.name)
        finally:
            await connection.execute("SELECT pg_advisory_unlock($1)", lock_key)
    return applied


def checksum(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def _applied_checksums(connection: asyncpg.Connection, schema: str) -> dict[str, str | None]:
    """The applied migrations' names and checksums (None: applied before checksums)."""
    await connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    await connection.execute(
        f'CREATE TABLE IF NOT EXISTS "{schema}".migrations ('
        " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    await connection.execute(
        f'ALTER TABLE "{schema}".migrations ADD COLUMN IF NOT EXISTS checksum text'
    )
    rows = await connection.fetch(f'SELECT name, checksum FROM "{schema}".migrations')
    return {row["name"]: row["checksum"] for row in rows}


async def _check_unchanged(
    connection: asyncpg.Connection, schema: str, files: list[Path], done: dict[str, str | None]
) -> None:
    for path in files:
        if path.name not in done:
            continue
        recorded, current = done[path.name], checksum(path)
        if recorded is None:
            await connection.execute(
                f'UPDATE "{schema}".migrations SET checksum = $2 WHERE name = $1',
                path.name,
                current,
            )
        elif recorded != current:
            raise MigrationChanged(
                f"migration {path} was edited after it was applied to schema {schema!r}:"
                " put the change in a new migration file and restore this one"
            )


def advisory_lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a name."""
    return int.from_bytes(
        hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True
    )


async def ping(pool: asyncpg.Pool) -> None:
    async with pool.acquire(timeout=2) as connection:
        await connection.fetchval("SELECT 1", timeout=2)
