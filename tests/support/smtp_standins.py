"""A local SMTP server on loopback (aiosmtpd) standing in for the relay breach e-mails go
through: it keeps what it received and can refuse a recipient's first delivery."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Mailbox:
    received: list[Message] = field(default_factory=list)
    # Recipients whose next delivery is answered 451 (a relay's "try again later").
    refuse_once: set[str] = field(default_factory=set)
    refused: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        refused = [r for r in envelope.rcpt_tos if r in self.refuse_once]
        if refused:
            self.refuse_once.difference_update(refused)
            self.refused.extend(refused)
            return "451 4.3.0 Mailbox busy, try again later"
        self.received.append(message_from_bytes(envelope.content))
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.received if m["To"] == address]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()
