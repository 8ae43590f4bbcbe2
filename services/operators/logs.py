"""The tools' own logging: plain lines on stderr, and a broker outage said once a minute."""

import logging
import math
import sys
import time


class _OncePerMinute(logging.Filter):
    """aiokafka logs every failed reconnection, several times a second while a broker is down;
    a command following a topic waits through the outage, and one line of each kind a minute
    is enough to say why it is quiet."""

    def __init__(self) -> None:
        super().__init__()
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        if now - self._last.get(str(record.msg), -math.inf) < 60:
            return False
        self._last[str(record.msg)] = now
        return True


def configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_OncePerMinute())
    # WARNING: aiokafka logs every record it sends, value included, at DEBUG.
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
