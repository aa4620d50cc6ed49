"""The runtime image catalogue: which images a job may name and their Docker references.

The request path (validating a job's image) and the worker (creating its sandbox) import this,
never the builder (`runtime/build/`), so this module holds only names, references and the
recipes they come from, and imports the standard library only. The builder reads the recipes
from here and hashes them into the tags it builds; ``:current`` points at the newest build.
"""

from __future__ import annotations

from dataclasses import dataclass, field

REPOSITORY_PREFIX = "offcoder/"
CURRENT_TAG = "current"


@dataclass(frozen=True)
class ImageRecipe:
    """What goes into one runtime image on top of the hardened base."""

    name: str
    packages: tuple[str, ...]
    # Run as root inside the root filesystem after the install: fails the build when the
    # toolchain is incomplete (a second check runs in a container after the import).
    check: str
    smoke: str = field(default="true")


RECIPES: dict[str, ImageRecipe] = {
    "python": ImageRecipe(
        name="python",
        # Full python3 (python3-minimal lacks json, ctypes, ...), venv with ensurepip, pip;
        # `python` and `pip` answer too (python-is-python3), as people and api.md type them.
        packages=("python3", "python3-venv", "python3-pip", "python-is-python3", "ca-certificates"),
        check=(
            "python3 -c 'import json, ctypes, venv, ssl, sqlite3, pip' && python3 -m pip --version"
            " && python --version && pip --version"
        ),
        smoke="python3 -c 'import json, ctypes, venv, ssl, sqlite3; print(\"ok\")'",
    ),
    "node": ImageRecipe(
        name="node",
        packages=("nodejs", "npm", "ca-certificates"),
        check="node -e 'process.exit(0)' && npm --version && npx --version",
        smoke="node -e 'console.log(\"ok\")'",
    ),
}

IMAGES: dict[str, str] = {
    name: f"{REPOSITORY_PREFIX}{name}:{CURRENT_TAG}" for name in sorted(RECIPES)
}


def resolve_image(name: str) -> str:
    """The docker reference of the job-facing image ``name`` ("python", "node")."""
    try:
        return IMAGES[name]
    except KeyError:
        available = ", ".join(sorted(IMAGES))
        raise ValueError(f"unknown image {name!r}; available images: {available}") from None


def image_reference(name: str, tag: str) -> str:
    return f"{REPOSITORY_PREFIX}{name}:{tag}"
