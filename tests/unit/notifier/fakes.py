"""Stateful fakes of the notifier's edges."""

from services.notifier.mailer import PermanentFailure, TemporaryFailure
from services.notifier.mime import OutgoingEmail


class FakeMailer:
    """Keeps what it was asked to send; fails for chosen recipients like an SMTP server."""

    def __init__(self) -> None:
        self.sent: list[OutgoingEmail] = []
        self.attempts: list[str] = []
        self.unavailable: set[str] = set()  # 451: try again later
        self.refused: set[str] = set()  # 550: never

    async def send(self, email: OutgoingEmail) -> None:
        self.attempts.append(email.recipient)
        if email.recipient in self.unavailable:
            raise TemporaryFailure("451 try again later")
        if email.recipient in self.refused:
            raise PermanentFailure("550 mailbox unavailable")
        self.sent.append(email)

    async def close(self) -> None:
        return None

    def sent_to(self) -> list[str]:
        return [email.recipient for email in self.sent]
