"""The wallet's API shapes: its balance and its ledger. Amounts are integers of minor units.
What moves money in or out from a provider (top-ups, refunds, plans) is `payments.schemas`."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class WalletOut(BaseModel):
    balance: int
    reserved: int = Field(description="Held for running jobs; returns to the balance at settle")
    currency: str
    ledger_version: int


class EntryOut(BaseModel):
    account: str
    amount: int


class LedgerTransactionOut(BaseModel):
    id: uuid.UUID
    kind: str
    currency: str
    amount: int = Field(description="What this transaction did to the spendable balance")
    reference: str | None
    memo: str | None
    balance_after: int
    reserved_after: int
    ledger_version: int
    created_at: datetime
    entries: list[EntryOut]


class LedgerPage(BaseModel):
    items: list[LedgerTransactionOut]
    next_cursor: str | None
