"""A dependency going down and coming back, told once each, not once per retry.

While PostgreSQL is down every loop that needs it fails every second; the log says so once
(a warning, without a traceback), reminds at most once a minute, and says once when it is
back. One watcher per dependency and process, shared by whoever uses it.
"""

import logging
import time
from collections.abc import Callable

from aiokafka.errors import KafkaError

from services.common import db
from services.common.logs import describe_failure

log = logging.getLogger(__name__)

REMINDER_SECONDS = 60.0


class Outage:
    def __init__(
        self,
        dependency: str,
        *,
        reminder_seconds: float = REMINDER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._dependency = dependency
        self._reminder_seconds = reminder_seconds
        self._clock = clock
        self._down_since: float | None = None
        self._last_said = 0.0

    def failed(self, error: BaseException) -> None:
        now = self._clock()
        if self._down_since is None:
            self._down_since = self._last_said = now
            log.warning("%s is unavailable: %s", self._dependency, describe_failure(error))
        elif now - self._last_said >= self._reminder_seconds:
            self._last_said = now
            log.warning(
                "%s still unavailable after %.0f s: %s",
                self._dependency,
                now - self._down_since,
                describe_failure(error),
            )

    def succeeded(self) -> None:
        if self._down_since is not None:
            log.warning(
                "%s is back after %.0f s", self._dependency, self._clock() - self._down_since
            )
            self._down_since = None


_WATCHERS: dict[str, Outage] = {}


def of(dependency: str) -> Outage:
    """The process's watcher of `dependency` (`postgres`, `kafka`, `smtp`)."""
    return _WATCHERS.setdefault(dependency, Outage(dependency))


def report(error: BaseException) -> bool:
    """Tell the watcher of the dependency `error` comes from; False if it is no outage."""
    dependency = _dependency_of(error)
    if dependency is None:
        return False
    of(dependency).failed(error)
    return True


def _dependency_of(error: BaseException) -> str | None:
    if isinstance(error, KafkaError):
        return "kafka"
    if db.is_transient(error):
        return "postgres"
    return None


class _LibraryRetries(logging.Filter):
    """A library's own retry warnings (asyncpg's pool refilling itself, with a traceback each
    time) become reports to the dependency's watcher instead of lines of their own."""

    def __init__(self, dependency: str) -> None:
        super().__init__()
        self._dependency = dependency

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.WARNING or record.exc_info is None:
            return True
        error = record.exc_info[1]
        if error is not None:
            of(self._dependency).failed(error)
        return False


def watch_library_retries() -> None:
    logging.getLogger("asyncpg.pool").addFilter(_LibraryRetries("postgres"))
