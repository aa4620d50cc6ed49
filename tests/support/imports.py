"""What our modules import, read from their source with `ast`: the import contracts' one reader.

Every import statement counts, those inside functions and under TYPE_CHECKING too, so a
contract holds whatever a test happens to import first.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import offcoder

PACKAGE = Path(offcoder.__file__).parent


def module_name(path: Path) -> str:
    """The dotted name of our module at `path`."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(name: str) -> bool:
    """Is `name` a module or package of ours (as opposed to a name defined in one)?"""
    if not name.startswith("offcoder."):
        return False
    base = PACKAGE.parent.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) for every import in the file at `path`; a call of
    `import_module` or `__import__` is `<dynamic import>`, which no contract allows."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package.pop()
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
                # `from offcoder.runtime import policy` imports the module policy.
                name = f"{source}.{alias.name}"
                yield node.lineno, name if is_module(name) else source
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__"):
                yield node.lineno, "<dynamic import>"


def under(name: str, *prefixes: str) -> bool:
    """Whether the module `name` is one of `prefixes` or inside one of them."""
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def where(path: Path, line: int, name: str) -> str:
    """How an offending import is reported: `package/path.py:12 imports offcoder.x`."""
    return f"{path.relative_to(PACKAGE).as_posix()}:{line} imports {name}"
