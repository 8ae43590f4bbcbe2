"""A fake of the notifier's mailer that keeps what it was asked to send."""

import asyncio

from services.notifier.mailer import PermanentFailure, TemporaryFailure
from services.notifier.mime import OutgoingEmail


class FakeMailer:
    """Keeps what it was asked to send; fails for chosen recipients like an SMTP server, fails
    the next sends on demand (`failures`), and holds every send while `gate` is closed."""

    def __init__(self) -> None:
        self.sent: list[OutgoingEmail] = []
        self.attempts: list[str] = []
        self.unavailable: set[str] = set()  # 451: try again later
        self.refused: set[str] = set()  # 550: never
        self.failures: list[Exception] = []  # raised by the next sends, in order
        self.gate = asyncio.Event()
        self.gate.set()
        self.in_flight = self.most_in_flight = 0

    async def send(self, email: OutgoingEmail) -> None:
        self.attempts.append(email.recipient)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.gate.wait()
            if self.failures:
                raise self.failures.pop(0)
            if email.recipient in self.unavailable:
                raise TemporaryFailure("451 try again later")
            if email.recipient in self.refused:
                raise PermanentFailure("550 mailbox unavailable")
            self.sent.append(email)
        finally:
            self.in_flight -= 1

    async def close(self) -> None:
        return None

    def sent_to(self) -> list[str]:
        return [email.recipient for email in self.sent]
