"""Reading the security headers a response carries."""

from __future__ import annotations


def csp_directives(header: str) -> dict[str, list[str]]:
    """A Content-Security-Policy header as {directive: [source, ...]}."""
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        if not part.strip():
            continue
        name, *sources = part.split()
        directives[name.lower()] = sources
    return directives
