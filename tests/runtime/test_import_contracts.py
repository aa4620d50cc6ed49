"""C2: the sandbox runtime's folders are processes and trust levels, and import accordingly.

Decision 0011. Read from the source (`tests/support/imports.py`), so a contract holds whatever a
test happens to import first:

- `runtime/proxy/` (the root-equivalent `offcoder docker-proxy` process) imports of ours only the
  shared contract `runtime.policy`, besides the standard library, h11 and structlog;
- `runtime/sandbox/` (programs run inside containers) imports the standard library only;
- nothing outside `runtime/proxy/` imports the proxy, except the CLI entry that starts it, and
  nothing imports the sandbox programs (the proxy reads their source as a resource);
- the request path never reaches the image builder (`runtime/build/`);
- `runtime.policy` (which the proxy runs) and `runtime.catalogue` (which the request path
  imports) import the standard library only.

Tests and benchmarks are outside these contracts: they drive the proxy and the gateway directly.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.support.imports import PACKAGE, imports, module_name, under, where

pytestmark = pytest.mark.promise("C2")

RUNTIME = PACKAGE / "runtime"
STDLIB = frozenset(sys.stdlib_module_names)

PROXY_THIRD_PARTY = {
    "h11": "the proxy parses HTTP/1.1 with it (strict, no smuggling)",
    "structlog": "its log lines",
}

# Modules outside runtime/proxy/ allowed to import the proxy, and why.
PROXY_IMPORTERS = {
    "offcoder.cli": "`offcoder docker-proxy` starts the proxy process (serve --dev runs that "
    "command as a child process, not an import)",
}

# The request path: what an API process imports to take a job (its own imports and theirs).
REQUEST_PATH = ("offcoder.main", "offcoder.jobs.service", "offcoder.jobs.endpoints")


def files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def test_the_proxy_imports_only_the_policy() -> None:
    offenders = [
        where(path, line, name)
        for path in files(RUNTIME / "proxy")
        for line, name in imports(path)
        if not (
            # The catalogue: the names of the images we build, the proxy's default allow-list
            # (stdlib-only data, held to that below).
            under(name, "offcoder.runtime.policy", "offcoder.runtime.proxy")
            or name == "offcoder.runtime.catalogue"
            or name.split(".")[0] in STDLIB | PROXY_THIRD_PARTY.keys()
        )
    ]
    assert offenders == [], f"the proxy reaches beyond the shared contract: {offenders}"


def test_sandbox_code_imports_only_the_standard_library() -> None:
    offenders = [
        where(path, line, name)
        for path in files(RUNTIME / "sandbox")
        for line, name in imports(path)
        if name.split(".")[0] not in STDLIB
    ]
    assert offenders == [], f"code run inside containers imports beyond stdlib: {offenders}"


def test_the_catalogue_the_proxy_reads_imports_only_the_standard_library() -> None:
    path = RUNTIME / "catalogue.py"
    offenders = [
        where(path, line, name) for line, name in imports(path) if name.split(".")[0] not in STDLIB
    ]
    assert offenders == [], f"the image catalogue imports beyond stdlib: {offenders}"


def test_only_the_cli_imports_the_proxy_and_nothing_imports_sandbox_code() -> None:
    offenders = []
    for path in files(PACKAGE):
        module = module_name(path)
        for line, name in imports(path):
            if under(name, "offcoder.runtime.proxy") and not (
                under(module, "offcoder.runtime.proxy") or module in PROXY_IMPORTERS
            ):
                offenders.append(where(path, line, name))
            if under(name, "offcoder.runtime.sandbox") and not under(
                module, "offcoder.runtime.sandbox"
            ):
                offenders.append(where(path, line, name))
    assert offenders == [], f"the proxy or sandbox code imported from outside: {offenders}"


def test_the_request_path_never_reaches_the_image_builder() -> None:
    graph = {
        module_name(path): {name for _, name in imports(path) if under(name, "offcoder")}
        for path in files(PACKAGE)
    }
    reached: dict[str, str] = {}  # module -> the module that imports it
    todo = list(REQUEST_PATH)
    while todo:
        module = todo.pop()
        for name in graph.get(module, set()):
            # Importing a module runs its packages' __init__ too.
            parts = name.split(".")
            for found in (".".join(parts[:i]) for i in range(1, len(parts) + 1)):
                if found not in reached and found not in REQUEST_PATH:
                    reached[found] = module
                    todo.append(found)
    builder = sorted(
        f"{m} (from {reached[m]})" for m in reached if under(m, "offcoder.runtime.build")
    )
    assert builder == [], f"the request path imports the image builder: {builder}"


# Modules of runtime/ that import the standard library only, and why.
STDLIB_ONLY = {
    "policy.py": "the proxy imports it, so whatever it imported the proxy would run too",
    "catalogue.py": "the request path imports it: cheap, and never the builder",
}


@pytest.mark.parametrize("module", sorted(STDLIB_ONLY))
def test_the_shared_modules_import_only_the_standard_library(module: str) -> None:
    path = RUNTIME / module
    offenders = [
        where(path, line, name) for line, name in imports(path) if name.split(".")[0] not in STDLIB
    ]
    assert offenders == [], f"{STDLIB_ONLY[module]}: {offenders}"
