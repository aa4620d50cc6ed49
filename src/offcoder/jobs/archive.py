"""The project archive a sandbox receives through putArchive (C3), built in memory by us.

Every member is a regular file (or the directories leading to it), with a relative path that
was validated again here, owned by the sandbox user: no symlink, hard link, device, FIFO,
absolute path or `..` can be in it, whatever the stored path says.
"""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Iterable

from offcoder.projects import rules
from offcoder.runtime.policy import SANDBOX_UID


class UnsafeArchive(ValueError):
    pass


def build(files: Iterable[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    now = int(time.time())
    directories: set[str] = set()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, content in files:
            try:
                rules.check_file_path(path)
            except Exception as exc:
                raise UnsafeArchive(f"refusing to pack {path!r}") from exc
            parts = path.split("/")
            for depth in range(1, len(parts)):
                directory = "/".join(parts[:depth])
                if directory not in directories:
                    directories.add(directory)
                    tar.addfile(_member(directory, tarfile.DIRTYPE, 0o755, 0, now))
            tar.addfile(
                _member(path, tarfile.REGTYPE, 0o644, len(content), now), io.BytesIO(content)
            )
    return buffer.getvalue()


def _member(name: str, kind: bytes, mode: int, size: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.mtime = mtime
    info.uid = info.gid = SANDBOX_UID
    info.uname = info.gname = "sandbox"
    return info
