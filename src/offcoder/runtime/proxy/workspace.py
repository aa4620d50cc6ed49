"""Per-job workspaces with a hard 500 MB quota (C1), provisioned by the root-equivalent proxy.

overlay2 on ext4 and Docker's local volumes have no size limit on these hosts, and
``--opt size=`` needs XFS project quota. What works: a fixed-size ext4 image per job on a
loop device, used as the named volume `workspace_volume_name(job_id)` through the local driver
(``type=ext4, device=/dev/loopN``). Writes stop with ENOSPC at the image's usable size.
The filesystem's root belongs to the sandbox user, so the job can write there without the image
shipping anything. Creating loop devices needs root on the Docker host: that is why this lives
in the proxy (already root-equivalent), which also lets the create check verify that a mounted
workspace volume is one it provisioned for that very job.

Images live in a directory of the proxy's deployment (``<state dir>/<deployment id>/``) and
volumes carry its deployment label: a proxy of another deployment sharing the engine or the
state directory neither finds nor removes them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import structlog

from offcoder.runtime.policy import (
    LABEL_WORKSPACE,
    SANDBOX_UID,
    deployment_labels,
    is_ours,
    workspace_mount,
    workspace_volume_name,
)
from offcoder.runtime.proxy.engine import EngineClient

log = structlog.get_logger(__name__)

# With the mkfs options below (4 KiB blocks, no journal, no reserved blocks, the "default"
# inode ratio), a 520 MB image leaves 500.17 MB for files: measured on this kind of host.
IMAGE_BYTES = 520_000_000 // 4096 * 4096
MKFS_OPTIONS = [
    "-q", "-F", "-T", "default", "-m", "0", "-b", "4096", "-O", "^has_journal",
    "-E", f"root_owner={SANDBOX_UID}:{SANDBOX_UID}",
]  # fmt: skip


class WorkspaceError(Exception):
    """Provisioning or teardown failed; the message says why."""


async def _run(*argv: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise WorkspaceError(f"{Path(argv[0]).name} failed: {err.decode(errors='replace').strip()}")
    return out.decode().strip()


def _tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        raise WorkspaceError(f"{name} is not installed on the Docker host")
    return path


class VolumeInUse(WorkspaceError):
    """The engine still has a container using the volume: it stays, and so does its image."""


class LoopVolumes:
    """Fixed-size ext4 images on loop devices, each a named local volume: the storage of the
    per-job workspaces and of the dependency layers. One losetup at a time per proxy."""

    def __init__(self, engine: EngineClient, state_dir: Path, deployment: str) -> None:
        self.engine = engine
        self.deployment = deployment
        self.images = state_dir / deployment
        self._lock = asyncio.Lock()

    async def create(
        self,
        name: str,
        image: Path,
        size: int,
        labels: dict[str, str],
        *,
        mkfs: list[str] = MKFS_OPTIONS,
        mount_options: str | None = None,
        empty_root: bool = False,
    ) -> str:
        """Make the image (in this deployment's directory, `images`), attach it and create the
        volume `name`; the loop device's path. With `empty_root`, the filesystem's root holds
        nothing, not even lost+found."""
        if await self.engine.inspect("volumes", name) is not None:
            raise WorkspaceError(f"volume {name} already exists")
        self.images.mkdir(parents=True, exist_ok=True, mode=0o700)
        loop_dev: str | None = None
        try:
            fd = os.open(image, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.ftruncate(fd, size)
            finally:
                os.close(fd)
            await _run(_tool("mkfs.ext4"), *mkfs, str(image))
            if empty_root:
                await _run(_tool("debugfs"), "-w", "-R", "rmdir lost+found", str(image))
            async with self._lock:  # one losetup at a time: --find then attach is not atomic
                loop_dev = await _run(_tool("losetup"), "--find", "--show", str(image))
            options = {"type": "ext4", "device": loop_dev}
            if mount_options:
                options["o"] = mount_options
            status, data = await self.engine.request(
                "POST",
                "/volumes/create",
                {"Name": name, "Driver": "local", "DriverOpts": options, "Labels": labels},
            )
            if status != 201:
                raise WorkspaceError(f"volume create answered {status}: {data}")
        except (OSError, WorkspaceError) as exc:
            if loop_dev:
                await _run(_tool("losetup"), "--detach", loop_dev)
            await asyncio.to_thread(image.unlink, missing_ok=True)
            if isinstance(exc, FileExistsError):
                raise WorkspaceError(f"the image for volume {name} already exists") from exc
            raise WorkspaceError(str(exc)) from exc
        return loop_dev

    async def remove(self, name: str, image: Path, job_id: uuid.UUID) -> bool:
        """Remove job `job_id`'s volume, detach the loop device, delete the image. False if none
        existed; VolumeInUse (and nothing removed) while a container still mounts it."""
        async with self._lock:
            found = False
            volume = await self.engine.inspect("volumes", name)
            # Another deployment's volume of that name is left as if absent.
            if volume is not None and is_ours(volume.get("Labels"), self.deployment, job_id):
                status, data = await self.engine.request("DELETE", f"/volumes/{name}")
                if status == 409:
                    raise VolumeInUse(f"volume {name} is in use")
                if status not in (204, 404):
                    raise WorkspaceError(f"volume remove answered {status}: {data}")
                found = status == 204
            if await asyncio.to_thread(image.exists):
                found = True
                devices = await _run(
                    _tool("losetup"), "--noheadings", "-O", "NAME", "-j", str(image)
                )
                for dev in devices.split():
                    await _run(_tool("losetup"), "--detach", dev)
                await asyncio.to_thread(image.unlink, missing_ok=True)
            return found


def is_loop_volume(volume: dict[str, Any] | None, mount_options: str | None = None) -> bool:
    """A local volume on one of our loop devices, with exactly the options we give them."""
    if volume is None:
        return False
    options = volume.get("Options") or {}
    expected = {"type", "device"} | ({"o"} if mount_options else set())
    return (
        volume.get("Driver") == "local"
        and options.get("type") == "ext4"
        and str(options.get("device", "")).startswith("/dev/loop")
        and options.get("o") == mount_options
        and set(options) == expected
    )


class Workspaces:
    """Provision and tear down per-job ext4 workspaces. State lives in the engine and state_dir."""

    def __init__(self, volumes: LoopVolumes) -> None:
        self.volumes = volumes
        self.engine = volumes.engine
        self.deployment = volumes.deployment
        self.images = volumes.images

    def image_path(self, job_id: uuid.UUID) -> Path:
        return self.images / f"{job_id}.img"

    def imaged_jobs(self) -> set[uuid.UUID]:
        """The jobs with a workspace image of this deployment (a loop device may hold it).
        A dependency layer's image (``deps-<job>.img``) is not one."""
        found: set[uuid.UUID] = set()
        for image in self.images.glob("*.img") if self.images.is_dir() else []:
            try:
                found.add(uuid.UUID(image.stem))
            except ValueError:
                continue
        return found

    async def provision(self, job_id: uuid.UUID) -> dict[str, Any]:
        """Create the job's workspace volume; returns the HostConfig.Mounts entry for it."""
        labels = {**deployment_labels(self.deployment, job_id), LABEL_WORKSPACE: "1"}
        loop_dev = await self.volumes.create(
            workspace_volume_name(job_id), self.image_path(job_id), IMAGE_BYTES, labels
        )
        log.info("workspace provisioned", job_id=str(job_id), device=loop_dev)
        return workspace_mount(job_id)

    async def is_provisioned(self, job_id: uuid.UUID) -> bool:
        """True only for a volume this proxy made for this job (labels and loop-device options)."""
        volume = await self.engine.inspect("volumes", workspace_volume_name(job_id))
        labels = (volume or {}).get("Labels") or {}
        return (
            is_loop_volume(volume)
            and is_ours(labels, self.deployment, job_id)
            and labels.get(LABEL_WORKSPACE) == "1"
        )

    async def teardown(self, job_id: uuid.UUID) -> bool:
        """Remove the volume, detach the loop device, delete the image. False if none existed."""
        found = await self.volumes.remove(
            workspace_volume_name(job_id), self.image_path(job_id), job_id
        )
        if found:
            log.info("workspace removed", job_id=str(job_id))
        return found
