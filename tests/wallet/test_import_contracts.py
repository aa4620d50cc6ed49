"""Money flows one way (issue 13, item 4; decision 0014): `payments` and `jobs` use the wallet,
the wallet uses neither. Read from the source with `ast` (every import statement, those inside
functions and under TYPE_CHECKING too), so the contract holds whatever a test imports first.

- `wallet/` imports nothing of `jobs` (a job's hold is a value the wallet returns and `jobs`
  keeps) and nothing of `payments` (which posts top-ups and refunds to the ledger itself).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import offcoder

pytestmark = pytest.mark.promise("P4")

PACKAGE = Path(offcoder.__file__).parent
WALLET = PACKAGE / "wallet"

# Packages the wallet must not import, and why.
FORBIDDEN = {
    "offcoder.jobs": "jobs record the hold the wallet returns; the wallet knows a job by id",
    "offcoder.payments": "payments post to the ledger; the wallet never calls back",
}


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) for every import in the file at `path`."""
    package = ["offcoder", *path.relative_to(PACKAGE).with_suffix("").parts]
    package.pop()  # the module's own name: relative imports start from its package
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                # `from offcoder import jobs` imports the package jobs.
                yield node.lineno, f"{source}.{alias.name}"


def under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_the_wallet_imports_neither_jobs_nor_payments() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE).as_posix()}:{line} imports {name} ({reason})"
        for path in sorted(WALLET.rglob("*.py"))
        for line, name in imports(path)
        for forbidden, reason in FORBIDDEN.items()
        if under(name, forbidden)
    ]
    assert offenders == [], f"the wallet reaches back into its callers: {offenders}"
