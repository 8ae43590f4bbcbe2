"""What every operators' command shares: how its job runs and how its arguments read."""

import argparse
import asyncio
import os
import sys
from collections.abc import Coroutine

from aiokafka.errors import KafkaError

from services.common.config import Config
from services.operators import dlq
from services.operators.display import readable
from services.operators.logs import configure_logging
from services.operators.reading import UnknownTopic


def boolean(text: str) -> bool:
    if text not in ("true", "false"):
        raise argparse.ArgumentTypeError("true or false")
    return text == "true"


def run(job: Coroutine[None, None, None]) -> int:
    """Run a command's job; a problem the operator can fix is one line on stderr, not a trace."""
    configure_logging()
    try:
        asyncio.run(job)
    except (UnknownTopic, dlq.NoSuchRecord, dlq.NotADeadLetter, dlq.Unreplayable) as error:
        print(readable(str(error)), file=sys.stderr)
        return 1
    except KafkaError as error:
        print(f"Kafka ({Config().kafka_bootstrap_servers}): {error!r}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as `cat` does, and keep Python from
        # complaining when it flushes stdout on exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
