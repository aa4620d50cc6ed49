"""Test modules import helpers from tests/support/, never from another test module: importing a
test module runs its collection-time code twice and hides shared helpers among tests."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent

# Not ours to move in this change, each with its reason; an entry that no longer applies fails.
PENDING: dict[str, str] = {}


def imported_test_modules(path: Path) -> list[str]:
    found = []
    package = ".".join(path.relative_to(TESTS.parent).parent.parts)
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom):
            # `from .x import y` and `from . import test_x` resolve against the file's package.
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            names = [module] + [f"{module}.{a.name}" for a in node.names]
        found += [
            n for n in names if n.startswith("tests.") and n.split(".")[-1].startswith("test_")
        ]
    return found


def test_no_test_module_imports_another() -> None:
    offenders = {
        str(path.relative_to(TESTS)): imported
        for path in sorted(TESTS.rglob("*.py"))
        if (imported := imported_test_modules(path))
    }
    assert {k: v for k, v in offenders.items() if k not in PENDING} == {}
    assert set(PENDING) <= set(offenders), "a pending exception no longer applies: remove it"
