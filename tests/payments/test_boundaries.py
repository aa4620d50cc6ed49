"""Where money from outside may be touched (issue 13, item 4; decision 0014):

- every row lock on a top-up or a refund is taken in `payments/locks.py`, which keeps their one
  order (the race it prevents: tests/payments/test_lock_order.py);
- the workers' payment sweep parses stored events into notices without loading a provider's
  SDK: it holds no provider client (decision 0012), and needs none to read an event.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import offcoder

pytestmark = pytest.mark.promise("P3")

PAYMENTS = Path(offcoder.__file__).parent / "payments"
LOCKED_ROWS = re.compile(r"\b(Topup|Refund)\b")


def row_locks(path: Path) -> list[tuple[int, str]]:
    """(line, source) of every FOR UPDATE on a top-up or refund in the file at `path`."""
    source = path.read_text()
    found = []
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if not isinstance(node, ast.Call):
            continue
        locks = isinstance(node.func, ast.Attribute) and node.func.attr == "with_for_update"
        locks = locks or any(k.arg == "with_for_update" for k in node.keywords)
        segment = ast.get_source_segment(source, node) or ""
        if locks and LOCKED_ROWS.search(segment):
            found.append((node.lineno, " ".join(segment.split())))
    return found


def test_top_ups_and_refunds_are_locked_only_in_the_locks_module() -> None:
    offenders = [
        f"{path.relative_to(PAYMENTS).as_posix()}:{line}: {segment}"
        for path in sorted(PAYMENTS.rglob("*.py"))
        if path.name != "locks.py"
        for line, segment in row_locks(path)
    ]
    assert offenders == [], f"a lock on money from outside, outside locks.py: {offenders}"
    assert row_locks(PAYMENTS / "locks.py"), "the contract no longer sees the locks it guards"


def test_the_payment_sweep_loads_no_provider_sdk() -> None:
    """What the worker's sweep imports, transitively, in a fresh interpreter."""
    probe = (
        "import sys, offcoder.payments.tasks, offcoder.worker.host; "
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('stripe', 'razorpay'))))"
    )
    loaded = subprocess.run(  # our own interpreter, a fixed probe
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert loaded == []
