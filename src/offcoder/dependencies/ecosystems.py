"""The package ecosystems a project's dependency layer is built for, and how.

One layer per ecosystem and project: Python's from ``requirements.txt``, installed with
``pip install --target`` (the images' pip is Debian's, whose PEP 668 marker refuses installs
into the system Python but not into a target directory) and found on ``PYTHONPATH``; Node's
from ``package.json`` (and ``package-lock.json`` when there is one), installed with
``npm install`` straight into the layer mounted as the workspace's ``node_modules``, where
``require`` and ``import`` both look. The install job's command is ours, never the user's; the
registries it may reach are the gateway's allow-list (`Settings.dependency_registry_hosts`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import urlsplit

from offcoder.config import Settings
from offcoder.runtime.policy import WORKSPACE

PYTHON_LAYER = "/deps"
# pip unpacks into a temporary directory and moves what it built into --target: on the layer
# itself that is a rename, and /tmp (64 MiB) does not cap what may be installed.
_PIP_SCRIPT = (
    f"mkdir -p {PYTHON_LAYER}/.offcoder-tmp && "
    f"TMPDIR={PYTHON_LAYER}/.offcoder-tmp python3 -m pip install --no-cache-dir "
    "--disable-pip-version-check --no-input --progress-bar off "
    f"--target {PYTHON_LAYER} -r requirements.txt; "
    f"status=$?; rm -rf {PYTHON_LAYER}/.offcoder-tmp; exit $status"
)


@dataclass(frozen=True)
class Ecosystem:
    name: str
    image: str  # the runtime image (runtime/catalogue.py) its installs and its users run in
    manifest: str  # the file whose presence asks for this layer, at the project's top level
    also_hashed: tuple[str, ...]  # files whose change also asks for a rebuild
    mount: str  # where the layer is mounted (one of policy.DEPENDENCY_TARGETS)
    command: tuple[str, ...]

    def install_environment(self, settings: Settings) -> dict[str, str]:
        """The install's own variables (the gateway's proxy variables come on top)."""
        if self.name == "python":
            environment = {"PIP_INDEX_URL": settings.dependency_pip_index_url}
            index = urlsplit(settings.dependency_pip_index_url)
            if index.scheme == "http" and index.hostname:
                # An operator who configured a plain-HTTP index (a mirror on a private network)
                # chose it: pip refuses one unless told it is trusted.
                environment["PIP_TRUSTED_HOST"] = index.hostname
            return environment
        return {"npm_config_registry": settings.dependency_npm_registry}

    def run_environment(self) -> dict[str, str]:
        """What a job mounting the layer needs to find its packages."""
        if self.name == "python":
            return {"PYTHONPATH": PYTHON_LAYER}
        return {}

    def manifest_sha256(self, files: dict[str, bytes]) -> str | None:
        """The hash of the manifest (and its companions) in `files`; None without a manifest."""
        if self.manifest not in files:
            return None
        digest = hashlib.sha256()
        for name in (self.manifest, *self.also_hashed):
            content = files.get(name)
            if content is not None:
                for part in (name.encode(), b"\0", str(len(content)).encode(), b"\0", content):
                    digest.update(part)
        return digest.hexdigest()


ECOSYSTEMS: dict[str, Ecosystem] = {
    "python": Ecosystem(
        name="python",
        image="python",
        manifest="requirements.txt",
        also_hashed=(),
        mount=PYTHON_LAYER,
        command=("sh", "-c", _PIP_SCRIPT),
    ),
    "node": Ecosystem(
        name="node",
        image="node",
        manifest="package.json",
        also_hashed=("package-lock.json",),
        mount=f"{WORKSPACE}/node_modules",
        command=(
            "npm", "install", "--no-audit", "--no-fund", "--no-update-notifier", "--no-progress",
        ),
    ),
}  # fmt: skip

# The files the layers are built from (what a worker reads to hash what it installs).
MANIFEST_FILES = frozenset(
    name for e in ECOSYSTEMS.values() for name in (e.manifest, *e.also_hashed)
)


def for_image(image: str) -> Ecosystem | None:
    """The ecosystem whose layer a job in `image` mounts, if any."""
    return next((e for e in ECOSYSTEMS.values() if e.image == image), None)
