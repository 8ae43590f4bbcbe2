"""A real SMTP server for tests, with switches to make it fail like real ones do."""

import asyncio
import contextlib
import email
import email.policy
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from services.common.embedded import free_port


@dataclass
class SmtpServer:
    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    # Answer the next N DATA commands with a temporary failure (451).
    temporary_failures: int = 0
    # Recipients refused for good (550).
    refused_recipients: set[str] = field(default_factory=set)
    # Seconds to wait before answering each DATA command: a slow server.
    delay: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    @classmethod
    @contextlib.contextmanager
    def running(cls) -> Iterator["SmtpServer"]:
        server = cls(host="127.0.0.1", port=free_port())
        server._listen()
        try:
            yield server
        finally:
            server._close()

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """No server on the port during the block (connections refused), then the same one."""
        self._close()
        try:
            yield
        finally:
            self._listen()

    def _listen(self) -> None:
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port)
        self._controller.start()

    def _close(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def received(self) -> list[EmailMessage]:
        with self._lock:
            return list(self.messages)


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self._server.refused_recipients:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self._server.delay)
        with self._server._lock:
            if self._server.temporary_failures > 0:
                self._server.temporary_failures -= 1
                return "451 4.3.0 try again later"
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
            self._server.messages.append(message)
        return "250 Message accepted"
