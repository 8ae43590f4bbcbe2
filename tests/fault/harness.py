"""The system as processes for the fault scenarios, and what came out of it."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence

import asyncpg
import httpx

from services.common.config import Config, ServiceName
from services.common.contract import (
    AUTOPAY_CHOICE_RECORDED_TOPIC,
    AUTOPAY_DLQ_TOPIC,
    NOTIFIER_DLQ_TOPIC,
)
from services.common.embedded import free_port
from tests.auth import bearer
from tests.fault import workload
from tests.fault.checker import (
    Observed,
    Published,
    check,
    choices_by_cause,
    expected_emails,
    summary,
)
from tests.fault.stream import Record, Stream
from tests.smtp import SmtpServer
from tests.support import ServiceProcess, TopicReader, eventually, publish

# A scenario's deadline to settle after its last record, on a loaded two-core machine.
SETTLE_TIMEOUT = 60.0


class System:
    """settings, autopay and notifier started with `portal-autopay run`, as an operator would."""

    def __init__(self, config: Config, *, autopay: int = 1, notifier: int = 1) -> None:
        self.config = config
        self.services: dict[ServiceName, list[ServiceProcess]] = {
            name: [ServiceProcess(name, config, free_port()) for _ in range(count)]
            for name, count in (("settings", 1), ("autopay", autopay), ("notifier", notifier))
        }

    async def start(self) -> None:
        every = [process for processes in self.services.values() for process in processes]
        for process in every:
            process.start()
        await asyncio.gather(*(process.wait_ready(timeout=60) for process in every))

    def kill(self, name: ServiceName, index: int = 0) -> None:
        self.services[name][index].kill()

    async def restart(self, name: ServiceName, index: int = 0) -> None:
        await self.services[name][index].start().wait_ready(timeout=60)

    def stop(self) -> None:
        for processes in self.services.values():
            for process in processes:
                if process.process is not None:
                    process.stop()

    def logs(self) -> str:
        return "\n".join(str(p.log_path) for ps in self.services.values() for p in ps)

    async def save_settings(self) -> None:
        """Every merchant's settings, through the settings API or as an event of their own."""
        async with self._settings_api() as api:
            for merchant in workload.MERCHANTS:
                if merchant.settings is None:
                    continue
                if not merchant.through_api:
                    await publish(self.config, merchant.settings_event())
                    continue
                saved = await api.put(
                    f"/v1/merchants/{merchant.merchant_id}/portal-settings",
                    json=merchant.document(),
                    headers=bearer(merchant.merchant_id, subject="fault-suite"),
                )
                assert saved.status_code == 200, saved.text

    def stream(self, records: Sequence[Record], *, rate: float = 1_000) -> asyncio.Task[Published]:
        """Stream `records` in the background; halfway, a merchant changes its settings."""

        async def run() -> Published:
            sending = asyncio.create_task(Stream(self.config, records, rate=rate).run())
            await asyncio.sleep(len(records) / rate / 2)  # the schedule's middle, not a wait
            await self._change_settings()
            return await sending

        return asyncio.create_task(run())

    async def _change_settings(self) -> None:
        """Over the API; retried while a fault (PostgreSQL down, say) makes it answer 5xx."""
        async with self._settings_api() as api:

            async def changed() -> bool:
                with contextlib.suppress(httpx.HTTPError):
                    answer = await api.patch(
                        f"/v1/merchants/{workload.CHANGED_MID_STREAM}/portal-settings",
                        json=workload.MID_STREAM_PATCH,
                        headers=bearer(workload.CHANGED_MID_STREAM, subject="fault-suite"),
                    )
                    if answer.status_code < 500:
                        assert answer.status_code == 200, answer.text
                        return True
                return False

            await eventually(changed, timeout=60, interval=0.2)

    def _settings_api(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.services["settings"][0].url, timeout=30)


class Outcomes:
    """Reads what the system produced while a scenario runs, and checks it at the end."""

    def __init__(self, config: Config, smtp: SmtpServer) -> None:
        self.config = config
        self.smtp = smtp
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> "Outcomes":
        self.choices = await self._reader(AUTOPAY_CHOICE_RECORDED_TOPIC)
        self.autopay_dlq = await self._reader(AUTOPAY_DLQ_TOPIC)
        self.notifier_dlq = await self._reader(NOTIFIER_DLQ_TOPIC)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._stack.aclose()

    async def _reader(self, topic: str) -> TopicReader:
        return await self._stack.enter_async_context(TopicReader(self.config, topic))

    async def decided(self, count: int, timeout: float = 60) -> None:
        """Wait until `count` inputs have an AutopayChoiceRecorded: the stream is under way."""

        async def enough() -> bool:
            return len(choices_by_cause(await self.choices.read())) >= count

        await eventually(enough, timeout=timeout, interval=0)

    async def emailed(self, count: int, timeout: float = 60) -> None:
        await eventually(lambda: len(self.smtp.received()) >= count, timeout=timeout)

    async def check(self, published: Published, *, email_repeats: bool = False) -> Observed:
        """Wait until everything sent is accounted for (or the deadline passes), then check."""
        with contextlib.suppress(AssertionError):  # the checker says what is missing
            await eventually(
                lambda: self._complete(published), timeout=SETTLE_TIMEOUT, interval=0.2
            )
        observed = await self.observe()
        print(summary(published, observed))  # shown with the test's output (-rP, or a failure)
        check(
            published,
            observed,
            workload.recipients(),
            mail_from=self.config.mail_from,
            email_repeats=email_repeats,
        )
        return observed

    async def observe(self) -> Observed:
        """Everything produced so far, once nothing new has come for a second."""
        await self._smtp_quiet()
        return Observed(
            choices=list(await self.choices.settle()),
            autopay_dlq=list(await self.autopay_dlq.settle(quiet=0.5)),
            notifier_dlq=list(await self.notifier_dlq.settle(quiet=0.5)),
            profiles={
                (row["merchant_id"], row["customer_id"], row["payment_method_id"]): dict(row)
                for row in await self._fetch("SELECT * FROM autopay.payment_profiles")
            },
            processed={
                row[0] for row in await self._fetch("SELECT event_id FROM autopay.processed_events")
            },
            emails=self.smtp.received(),
        )

    async def _complete(self, published: Published) -> bool:
        choices = await self.choices.read()
        await self.autopay_dlq.read()
        if len(choices_by_cause(choices)) < len(published.decided()):
            return False
        if len(self.autopay_dlq.records) < len(published.poison):
            return False
        expected = expected_emails(choices, workload.recipients(), self.config.mail_from)
        sent = {str(message["Message-ID"]) for message in self.smtp.received()}
        if not expected.keys() <= sent:
            return False
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            [(processed,)] = await self._fetch("SELECT count(*) FROM autopay.processed_events")
            return processed >= len(published.inputs)
        return False

    async def _fetch(self, query: str) -> list[asyncpg.Record]:
        connection = await asyncpg.connect(self.config.database_url)
        try:
            return await connection.fetch(query)
        finally:
            await connection.close()

    async def _smtp_quiet(self, quiet: float = 1.0) -> None:
        count, since = len(self.smtp.received()), time.monotonic()
        while time.monotonic() - since < quiet:
            await asyncio.sleep(0.1)
            if len(self.smtp.received()) != count:
                count, since = len(self.smtp.received()), time.monotonic()


@contextlib.asynccontextmanager
async def running(system: System, config: Config, smtp: SmtpServer) -> AsyncIterator[Outcomes]:
    """The system started with every merchant's settings saved, and its outputs read."""
    try:
        await system.start()
        await system.save_settings()
        async with Outcomes(config, smtp) as outcomes:
            yield outcomes
    finally:
        system.stop()
