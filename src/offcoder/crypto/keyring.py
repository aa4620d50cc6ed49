"""Application-layer encryption of secrets at rest (R2).

Every value is sealed with AES-256-GCM under a 256-bit key that lives outside the database
(a key file or an environment variable here; `KeySource` is the seam for a KMS or Vault).
The envelope names the key that sealed it, so keys rotate without downtime, and the
additional authenticated data binds it to its table, column, row and owner: a ciphertext
copied to another row or another user's row fails to open.

Envelope: b"OC1" | len(kid) (1 byte) | kid (ASCII) | nonce (12 bytes) | ciphertext+tag.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"OC1"
NONCE_BYTES = 12
KEY_BYTES = 32


class KeyringError(Exception):
    """A value could not be sealed or opened; the message never contains key material."""


@dataclass(frozen=True)
class Binding:
    """Where a sealed value lives: it opens only there."""

    table: str
    column: str
    row: str
    owner: uuid.UUID

    def aad(self) -> bytes:
        return f"offcoder:v1:{self.table}:{self.column}:{self.row}:{self.owner}".encode()


@dataclass(frozen=True)
class KeySet:
    primary: str
    keys: dict[str, bytes]

    def __post_init__(self) -> None:
        if self.primary not in self.keys:
            raise KeyringError(f"primary key id {self.primary!r} is not among the keys")
        for kid, key in self.keys.items():
            if len(key) != KEY_BYTES:
                raise KeyringError(f"key {kid!r} is not 256 bits")
            if not kid.isascii() or not 0 < len(kid) < 64 or ":" in kid:
                raise KeyringError(f"key id {kid!r} must be 1-63 ASCII characters")

    def to_json(self) -> str:
        return json.dumps(
            {
                "primary": self.primary,
                "keys": {kid: base64.b64encode(k).decode() for kid, k in self.keys.items()},
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> KeySet:
        try:
            doc = json.loads(text)
            keys = {kid: base64.b64decode(v, validate=True) for kid, v in doc["keys"].items()}
            return cls(primary=doc["primary"], keys=keys)
        except (ValueError, KeyError, TypeError) as exc:
            raise KeyringError("the key set is not valid JSON of the form {primary, keys}") from exc

    def with_new_primary(self) -> KeySet:
        kid = new_key_id()
        return KeySet(primary=kid, keys={**self.keys, kid: AESGCM.generate_key(256)})


def new_key_id() -> str:
    return "k" + secrets.token_hex(6)


def generate_keyset() -> KeySet:
    kid = new_key_id()
    return KeySet(primary=kid, keys={kid: AESGCM.generate_key(256)})


class KeySource(Protocol):
    """Where keys come from. A KMS or Vault backend implements the same two methods."""

    def load(self) -> KeySet: ...

    def store(self, keyset: KeySet) -> None: ...


class FileKeySource:
    """A JSON key file, created with mode 0600."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> KeySet:
        try:
            return KeySet.from_json(self.path.read_text())
        except FileNotFoundError as exc:
            raise KeyringError(f"no key file at {self.path}: run `offcoder keys generate`") from exc

    def store(self, keyset: KeySet) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(keyset.to_json())
        os.replace(tmp, self.path)


class EnvKeySource:
    """Keys handed in through an environment variable (read-only: rotation prints the new set)."""

    def __init__(self, value: str) -> None:
        self.value = value

    def load(self) -> KeySet:
        return KeySet.from_json(self.value)

    def store(self, keyset: KeySet) -> None:
        raise KeyringError(
            "keys come from OFFCODER_KEYS: put the new key set there (printed by the command)"
        )


class Keyring:
    """Seals and opens values with the key set of a `KeySource`."""

    def __init__(self, keyset: KeySet) -> None:
        self._keyset = keyset
        self._ciphers = {kid: AESGCM(key) for kid, key in keyset.keys.items()}

    @property
    def primary_key_id(self) -> str:
        return self._keyset.primary

    def seal(self, plaintext: bytes, binding: Binding) -> bytes:
        kid = self._keyset.primary
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[kid].encrypt(nonce, plaintext, binding.aad())
        return MAGIC + bytes([len(kid)]) + kid.encode() + nonce + sealed

    def seal_text(self, plaintext: str, binding: Binding) -> bytes:
        return self.seal(plaintext.encode(), binding)

    def open(self, envelope: bytes, binding: Binding) -> bytes:
        kid, nonce, sealed = split_envelope(envelope)
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise KeyringError(f"the value was sealed with key {kid!r}, which is not loaded")
        try:
            return cipher.decrypt(nonce, sealed, binding.aad())
        except InvalidTag as exc:
            raise KeyringError("the value does not open here (wrong row, owner or key)") from exc

    def open_text(self, envelope: bytes, binding: Binding) -> str:
        return self.open(envelope, binding).decode()

    def reseal(self, envelope: bytes, binding: Binding) -> bytes | None:
        """The value sealed under the primary key, or None when it already is."""
        if key_id_of(envelope) == self._keyset.primary:
            return None
        return self.seal(self.open(envelope, binding), binding)


def split_envelope(envelope: bytes) -> tuple[str, bytes, bytes]:
    if len(envelope) < len(MAGIC) + 1 or not envelope.startswith(MAGIC):
        raise KeyringError("not an OffCoder ciphertext")
    kid_len = envelope[len(MAGIC)]
    start = len(MAGIC) + 1
    kid = envelope[start : start + kid_len].decode("ascii", errors="replace")
    nonce = envelope[start + kid_len : start + kid_len + NONCE_BYTES]
    sealed = envelope[start + kid_len + NONCE_BYTES :]
    if len(nonce) != NONCE_BYTES or len(sealed) < 16:
        raise KeyringError("truncated ciphertext")
    return kid, nonce, sealed


def key_id_of(envelope: bytes) -> str:
    return split_envelope(envelope)[0]
