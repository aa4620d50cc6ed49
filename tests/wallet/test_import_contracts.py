"""Money flows one way (issue 13, item 4; decision 0014): `payments` and `jobs` use the wallet,
the wallet uses neither. Read from the source (`tests/support/imports.py`: every import
statement, those inside functions and under TYPE_CHECKING too), so the contract holds whatever a
test imports first.

- `wallet/` imports nothing of `jobs` (a job's hold is a value the wallet returns and `jobs`
  keeps) and nothing of `payments` (which posts top-ups and refunds to the ledger itself).
"""

from __future__ import annotations

import pytest

from tests.support.imports import PACKAGE, imports, under, where

pytestmark = pytest.mark.promise("P4")

WALLET = PACKAGE / "wallet"

# Packages the wallet must not import, and why.
FORBIDDEN = {
    "offcoder.jobs": "jobs record the hold the wallet returns; the wallet knows a job by id",
    "offcoder.payments": "payments post to the ledger; the wallet never calls back",
}


def test_the_wallet_imports_neither_jobs_nor_payments() -> None:
    offenders = [
        f"{where(path, line, name)} ({reason})"
        for path in sorted(WALLET.rglob("*.py"))
        for line, name in imports(path)
        for forbidden, reason in FORBIDDEN.items()
        if under(name, forbidden)
    ]
    assert offenders == [], f"the wallet reaches back into its callers: {offenders}"
