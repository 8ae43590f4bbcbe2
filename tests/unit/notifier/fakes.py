"""Stateful fakes of the notifier's edges."""

from email.message import EmailMessage

from services.notifier.mailer import PermanentFailure, TemporaryFailure


class FakeMailer:
    """Keeps what it was asked to send; can fail like an SMTP server does."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self.temporary_failures = 0
        self.refused: set[str] = set()

    async def send(self, message: EmailMessage) -> None:
        if self.temporary_failures > 0:
            self.temporary_failures -= 1
            raise TemporaryFailure("451 try again later")
        if message["To"] in self.refused:
            raise PermanentFailure("550 mailbox unavailable")
        self.sent.append(message)

    async def close(self) -> None:
        return None
