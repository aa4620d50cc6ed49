"""Per-project dependency layers (C2, C6), made and checked by the proxy.

A layer is a fixed-size ext4 image on a loop device, used as the named volume
`layer_volume_name(install_job_id)` (the workspace's storage, `workspace.LoopVolumes`): its size
is the hard cap of what an install may write. The proxy alone creates one, for an install job,
labelled with the project and the owner tag the worker names; it is mounted writable only into
that install job (the policy's rule) and read-only into later jobs whose create body carries the
same project and owner labels (`check_mount`). Nothing else may mount it: the proxy refuses
volumes in general, and a layer volume it did not make (labels, loop device, mount options) is
refused here.

Like every object of the proxy's, a layer belongs to its deployment (decision 0019): its volume
carries the deployment label and its image lives in ``<state dir>/<deployment id>/``; a proxy
of another deployment on the same engine finds no layer of ours to describe, mount or remove
(each looks absent to it).

The host mounts each layer ``nosuid,nodev``. A read-only mount loses those two flags in the
container (runc's read-only remount resets them); what keeps setuid files and device nodes out
of a layer there is that its writer runs with no capability (no CAP_CHOWN, CAP_FOWNER, CAP_MKNOD)
and every sandbox with no-new-privileges. ``noexec`` is not set: compiled extensions (a wheel's
``.so``, a Node addon) are mapped executable, and a job may already run whatever it writes in
its workspace.

The layer's size (`size_bytes`) is what its image takes on the host's disk: the blocks the
sparse file holds, its filesystem's own included.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import structlog

from offcoder.runtime.policy import (
    LABEL_LAYER,
    LABEL_OWNER,
    LABEL_PROJECT,
    LAYER_MAX_BYTES,
    LAYER_MIN_BYTES,
    deployment_labels,
    is_ours,
    layer_builder,
    layer_volume_name,
)
from offcoder.runtime.proxy.engine import EngineClient
from offcoder.runtime.proxy.workspace import MKFS_OPTIONS, LoopVolumes, is_loop_volume

log = structlog.get_logger(__name__)

MAX_BODY = 4096
MOUNT_OPTIONS = "nosuid,nodev"
# node_modules trees are many small files: twice the inodes of the workspace's ratio.
MKFS = [*MKFS_OPTIONS, "-i", "8192"]
_OWNER_TAG = re.compile(r"[0-9a-f]{32,64}")


class LayerError(Exception):
    """A layer request was malformed or cannot be honoured; `status` says how to answer."""

    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.status = status


def parse_request(raw: bytes) -> tuple[uuid.UUID, str, int]:
    """``{"Project": uuid, "Owner": hex tag, "SizeBytes": n}``, strictly; LayerError(400)."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise LayerError(f"the layer body is not valid JSON: {exc}", 400) from exc
    if not isinstance(data, dict) or set(data) != {"Project", "Owner", "SizeBytes"}:
        raise LayerError("the layer body has exactly Project, Owner and SizeBytes", 400)
    try:
        project = uuid.UUID(str(data["Project"]))
    except ValueError as exc:
        raise LayerError("Project must be a project UUID", 400) from exc
    if str(project) != data["Project"]:
        raise LayerError("Project must be a project UUID", 400)
    owner, size = data["Owner"], data["SizeBytes"]
    if not isinstance(owner, str) or not _OWNER_TAG.fullmatch(owner):
        raise LayerError("Owner must be the owner tag (a hex hash)", 400)
    if (
        isinstance(size, bool)
        or not isinstance(size, int)
        or not LAYER_MIN_BYTES <= size <= LAYER_MAX_BYTES
    ):
        raise LayerError(f"SizeBytes must be between {LAYER_MIN_BYTES} and {LAYER_MAX_BYTES}", 400)
    return project, owner, size


class Layers:
    def __init__(self, volumes: LoopVolumes) -> None:
        self.volumes = volumes
        self.engine: EngineClient = volumes.engine
        self.deployment = volumes.deployment
        # Held by a create that mounts a layer and by a layer's removal: a layer checked for a
        # create cannot be removed (and then made again, empty and unlabelled, by the engine's
        # implicit volume create) before the container that mounts it exists.
        self._in_use = asyncio.Lock()

    def image_path(self, job_id: uuid.UUID) -> Path:
        return self.volumes.images / f"deps-{job_id}.img"

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        async with self._in_use:
            yield

    async def provision(
        self, job_id: uuid.UUID, project: uuid.UUID, owner: str, size: int
    ) -> dict[str, Any]:
        """A new, empty layer for install job `job_id`; its volume's name."""
        labels = {
            **deployment_labels(self.deployment, job_id),
            LABEL_LAYER: "1",
            LABEL_PROJECT: str(project),
            LABEL_OWNER: owner,
        }
        name = layer_volume_name(job_id)
        device = await self.volumes.create(
            name,
            self.image_path(job_id),
            size,
            labels,
            mkfs=MKFS,
            mount_options=MOUNT_OPTIONS,
            # node_modules is the root of a Node layer: npm would take lost+found for a package.
            empty_root=True,
        )
        log.info("dependency layer provisioned", job_id=str(job_id), device=device)
        return {"Volume": name}

    async def labels(self, volume_name: str) -> dict[str, str] | None:
        """The labels of a layer volume this proxy made; None for any other volume or none
        (another deployment's layer among them)."""
        builder = layer_builder(volume_name)
        if builder is None:
            return None
        volume = await self.engine.inspect("volumes", volume_name)
        labels = (volume or {}).get("Labels") or {}
        if not (
            is_loop_volume(volume, MOUNT_OPTIONS)
            and is_ours(labels, self.deployment, builder)
            and labels.get(LABEL_LAYER) == "1"
            and self.image_path(builder).exists()
        ):
            return None
        return dict(labels)

    async def check_mount(self, volume_name: str, body_labels: dict[str, str]) -> list[str]:
        """Why a create body with these labels may not mount this layer; empty when it may."""
        labels = await self.labels(volume_name)
        if labels is None:
            return [f"{volume_name} is not a dependency layer made by this proxy"]
        theirs = (labels.get(LABEL_PROJECT), labels.get(LABEL_OWNER))
        if theirs != (body_labels.get(LABEL_PROJECT), body_labels.get(LABEL_OWNER)):
            return ["a dependency layer is mounted only by jobs of its own project and owner"]
        return []

    async def describe(self, job_id: uuid.UUID) -> dict[str, Any] | None:
        """The layer built by `job_id`: its volume, project and size on disk; None if none."""
        name = layer_volume_name(job_id)
        labels = await self.labels(name)
        if labels is None:
            return None
        blocks = self.image_path(job_id).stat().st_blocks
        return {"Volume": name, "Project": labels[LABEL_PROJECT], "SizeBytes": blocks * 512}

    async def teardown(self, job_id: uuid.UUID) -> bool:
        """Remove the layer, its loop device and image; False if there was none. VolumeInUse
        (`workspace.VolumeInUse`) while a container still mounts it: it stays whole."""
        async with self._in_use:
            found = await self.volumes.remove(
                layer_volume_name(job_id), self.image_path(job_id), job_id
            )
        if found:
            log.info("dependency layer removed", job_id=str(job_id))
        return found
