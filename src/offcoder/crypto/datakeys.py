"""Where each user's data key is kept, wrapped by the keyring (V3 erasure by crypto-shredding).

Every user's sealed values are sealed under a data key of their own. The data key is kept
only here, wrapped (sealed) by the keyring, and never in the database: a database backup
holds the user's ciphertexts but not the key that opens them. Erasure destroys the wrapped
key, so the ciphertexts in every earlier database backup stop opening (decision 0033).

`DataKeyStore` is the seam for another store (a KMS key per user, a Vault path); the file
store keeps one file per user in a directory of mode 0700 that must not be backed up with
the database.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol


class DataKeyStore(Protocol):
    """Wrapped data keys by owner. Implementations hold only wrapped keys, never plain ones."""

    def load(self, owner: uuid.UUID) -> bytes | None: ...

    def create(self, owner: uuid.UUID, wrapped: bytes) -> bool:
        """Store the owner's first key; False (and nothing stored) when one exists already."""
        ...

    def replace(self, owner: uuid.UUID, wrapped: bytes) -> None:
        """Store the same data key wrapped again (key rotation)."""
        ...

    def destroy(self, owner: uuid.UUID) -> bool:
        """Delete the owner's wrapped key; False when there was none."""
        ...

    def owners(self) -> Iterator[uuid.UUID]: ...


class FileDataKeyStore:
    """One file per owner, `<user id>.key`, mode 0600, in a directory of mode 0700."""

    SUFFIX = ".key"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, owner: uuid.UUID) -> Path:
        return self.directory / f"{owner}{self.SUFFIX}"

    def _ensure_directory(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    def load(self, owner: uuid.UUID) -> bytes | None:
        try:
            return self._path(owner).read_bytes()
        except FileNotFoundError:
            return None

    def create(self, owner: uuid.UUID, wrapped: bytes) -> bool:
        self._ensure_directory()
        # Written under a private name, then linked into place: a second process creating the
        # same owner's key at the same moment either wins or finds the winner's whole file,
        # never a half-written one.
        tmp = self.directory / f".{owner}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(wrapped)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, self._path(owner))
            except FileExistsError:
                return False
            return True
        finally:
            tmp.unlink(missing_ok=True)

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Re-wrapping and destroying take turns (across processes): a rotation that read a
        key just before erasure destroyed it must not write it back afterwards."""
        self._ensure_directory()
        fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def replace(self, owner: uuid.UUID, wrapped: bytes) -> None:
        """Only an existing key is replaced: a key destroyed meanwhile stays destroyed."""
        with self._exclusive():
            if self._path(owner).exists():
                self._write_over(owner, wrapped)

    def _write_over(self, owner: uuid.UUID, wrapped: bytes) -> None:
        tmp = self.directory / f".{owner}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(wrapped)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self._path(owner))
        finally:
            tmp.unlink(missing_ok=True)

    def destroy(self, owner: uuid.UUID) -> bool:
        with self._exclusive():
            try:
                self._path(owner).unlink()
            except FileNotFoundError:
                return False
        # The directory entry's removal must reach the disk before erasure reports success.
        with contextlib.suppress(OSError):
            fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        return True

    def owners(self) -> Iterator[uuid.UUID]:
        if not self.directory.exists():
            return
        for path in sorted(self.directory.glob(f"*{self.SUFFIX}")):
            with contextlib.suppress(ValueError):
                yield uuid.UUID(path.name.removesuffix(self.SUFFIX))
