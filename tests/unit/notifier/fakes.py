"""Stateful fakes of the notifier's edges."""

from services.notifier.mailer import PermanentFailure, TemporaryFailure
from services.notifier.mime import OutgoingEmail


class FakeMailer:
    """Keeps what it was asked to send; can fail like an SMTP server does."""

    def __init__(self) -> None:
        self.sent: list[OutgoingEmail] = []
        self.temporary_failures = 0
        self.refused: set[str] = set()

    async def send(self, email: OutgoingEmail) -> None:
        if self.temporary_failures > 0:
            self.temporary_failures -= 1
            raise TemporaryFailure("451 try again later")
        if email.recipient in self.refused:
            raise PermanentFailure("550 mailbox unavailable")
        self.sent.append(email)

    async def close(self) -> None:
        return None
