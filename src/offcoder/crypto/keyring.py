"""Application-layer encryption of secrets at rest (R2).

Every value is sealed with AES-256-GCM under a 256-bit key that lives outside the database
(a key file or an environment variable here; `KeySource` is the seam for a KMS or Vault).
The envelope names the key that sealed it, so keys rotate without downtime, and the
additional authenticated data binds it to its table, column, row and owner: a ciphertext
copied to another row or another user's row fails to open.

Envelope: b"OC1" | len(kid) (1 byte) | kid (ASCII) | nonce (12 bytes) | ciphertext+tag.

With a `DataKeyStore` (V3, decision 0033) every value is sealed under its owner's data key
instead, and only the data keys are sealed under the key set:
owner envelope: b"OU1" | nonce (12 bytes) | ciphertext+tag, opened with the data key of the
binding's owner. Values sealed before (b"OC1") keep opening; rotation re-seals them.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from offcoder.crypto.datakeys import DataKeyStore

MAGIC = b"OC1"
OWNER_MAGIC = b"OU1"
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
    # Never in a repr: a logged or printed KeySet must not carry key material.
    keys: dict[str, bytes] = field(repr=False)
    # The source the set was loaded from, so a Keyring built from it can reload after a
    # rotation (`Keyring(key_source(settings).load())` keeps working unchanged).
    origin: KeySource | None = field(default=None, compare=False, repr=False)

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
        return replace(self, primary=kid, keys={**self.keys, kid: AESGCM.generate_key(256)})

    def without(self, kid: str) -> KeySet:
        """The set with `kid` removed; the primary key cannot be removed."""
        if kid == self.primary:
            raise KeyringError(f"key {kid!r} is the primary key: rotate before retiring it")
        if kid not in self.keys:
            raise KeyringError(f"there is no key {kid!r} in the key set")
        return replace(self, keys={k: v for k, v in self.keys.items() if k != kid})

    def with_origin(self, source: KeySource) -> KeySet:
        return replace(self, origin=source)


def data_key_binding(owner: uuid.UUID) -> Binding:
    """The binding of an owner's wrapped data key: it unwraps only as that owner's key."""
    return Binding("data_keys", "wrapped", str(owner), owner)


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
            return KeySet.from_json(self.path.read_text()).with_origin(self)
        except FileNotFoundError as exc:
            raise KeyringError(f"no key file at {self.path}: run `offcoder keys generate`") from exc

    def store(self, keyset: KeySet) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)  # a leftover could carry a wider mode than 0600
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(keyset.to_json())
        os.replace(tmp, self.path)


class EnvKeySource:
    """Keys handed in through an environment variable (read-only: rotation prints the new set)."""

    def __init__(self, value: str) -> None:
        self.value = value

    def load(self) -> KeySet:
        return KeySet.from_json(self.value).with_origin(self)

    def store(self, keyset: KeySet) -> None:
        raise KeyringError(
            "keys come from OFFCODER_KEYS: put the new key set there (printed by the command)"
        )


class Keyring:
    """Seals and opens values with the key set of a `KeySource`.

    Online rotation: when another process adds a key to the source, this keyring picks it up
    without a restart. Opening a value sealed under a key id it does not hold reloads the
    source (at most once per `reload_interval` seconds, so forged key ids cannot make it hammer
    the source), and sealing reloads a set older than `refresh_after` seconds, so every server
    moves to the new primary key within that time.
    """

    def __init__(
        self,
        keyset: KeySet,
        source: KeySource | None = None,
        *,
        reload_interval: float = 5.0,
        refresh_after: float = 60.0,
        data_keys: DataKeyStore | None = None,
    ) -> None:
        self._source = source if source is not None else keyset.origin
        self._data_keys = data_keys
        self._reload_interval = reload_interval
        self._refresh_after = refresh_after
        self._lock = threading.Lock()
        self._install(keyset)
        self._last_attempt = float("-inf")

    @classmethod
    def from_source(
        cls, source: KeySource, *, data_keys: DataKeyStore | None = None, **options: float
    ) -> Keyring:
        return cls(source.load(), source, data_keys=data_keys, **options)

    def _install(self, keyset: KeySet) -> None:
        ciphers = {kid: AESGCM(key) for kid, key in keyset.keys.items()}
        # One assignment, so a concurrent reader sees the old pair or the new one, never a mix.
        self._state = (keyset, ciphers)
        self._loaded_at = time.monotonic()

    @property
    def _keyset(self) -> KeySet:
        return self._state[0]

    def reload(self, *, force: bool = False) -> bool:
        """Read the source again; False when there is none or the rate limit holds it back."""
        if self._source is None:
            return False
        with self._lock:
            now = time.monotonic()
            if not force and now - self._last_attempt < self._reload_interval:
                return False
            self._last_attempt = now
            try:
                keyset = self._source.load()
            except OSError as exc:
                raise KeyringError("the key source could not be read") from exc
            self._install(keyset)
            return True

    def key_ids(self) -> frozenset[str]:
        return frozenset(self._keyset.keys)

    @property
    def primary_key_id(self) -> str:
        return self._keyset.primary

    @property
    def data_keys(self) -> DataKeyStore | None:
        return self._data_keys

    def seal(self, plaintext: bytes, binding: Binding) -> bytes:
        """Seal under the owner's data key when there is a data key store, else the key set."""
        if self._data_keys is None:
            return self._seal_with_keyset(plaintext, binding)
        cipher = self._data_key(binding.owner, create=True)
        assert cipher is not None
        nonce = os.urandom(NONCE_BYTES)
        return OWNER_MAGIC + nonce + cipher.encrypt(nonce, plaintext, binding.aad())

    def _seal_with_keyset(self, plaintext: bytes, binding: Binding) -> bytes:
        if self._source is not None and time.monotonic() - self._loaded_at > self._refresh_after:
            # On failure keep sealing with the set we hold; the next attempt may succeed.
            with contextlib.suppress(KeyringError):
                self.reload()
        keyset, ciphers = self._state
        kid = keyset.primary
        nonce = os.urandom(NONCE_BYTES)
        sealed = ciphers[kid].encrypt(nonce, plaintext, binding.aad())
        return MAGIC + bytes([len(kid)]) + kid.encode() + nonce + sealed

    def seal_text(self, plaintext: str, binding: Binding) -> bytes:
        return self.seal(plaintext.encode(), binding)

    def open(self, envelope: bytes, binding: Binding) -> bytes:
        if envelope.startswith(OWNER_MAGIC):
            return self._open_with_data_key(envelope, binding)
        return self._open_with_keyset(envelope, binding)

    def open_text(self, envelope: bytes, binding: Binding) -> str:
        return self.open(envelope, binding).decode()

    def _open_with_keyset(self, envelope: bytes, binding: Binding) -> bytes:
        kid, nonce, sealed = split_envelope(envelope)
        cipher = self._state[1].get(kid)
        if cipher is None and self.reload():
            cipher = self._state[1].get(kid)
        if cipher is None:
            raise KeyringError(f"the value was sealed with key {kid!r}, which is not loaded")
        try:
            return cipher.decrypt(nonce, sealed, binding.aad())
        except InvalidTag as exc:
            raise KeyringError("the value does not open here (wrong row, owner or key)") from exc

    def _open_with_data_key(self, envelope: bytes, binding: Binding) -> bytes:
        nonce = envelope[len(OWNER_MAGIC) : len(OWNER_MAGIC) + NONCE_BYTES]
        sealed = envelope[len(OWNER_MAGIC) + NONCE_BYTES :]
        if len(nonce) != NONCE_BYTES or len(sealed) < 16:
            raise KeyringError("truncated ciphertext")
        cipher = self._data_key(binding.owner, create=False)
        if cipher is None:
            raise KeyringError("the owner's data key does not exist here (erased, or never made)")
        try:
            return cipher.decrypt(nonce, sealed, binding.aad())
        except InvalidTag as exc:
            raise KeyringError("the value does not open here (wrong row, owner or key)") from exc

    def _data_key(self, owner: uuid.UUID, *, create: bool) -> AESGCM | None:
        """The owner's data key, unwrapped; made and stored on first use when `create`.

        Deliberately not cached: once erasure destroys the wrapped key, no process of the
        deployment opens the owner's values any more, without a restart.
        """
        store = self._data_keys
        if store is None:
            raise KeyringError("this keyring has no data key store")
        binding = data_key_binding(owner)
        wrapped = store.load(owner)
        if wrapped is None:
            if not create:
                return None
            fresh = self._seal_with_keyset(AESGCM.generate_key(256), binding)
            if not store.create(owner, fresh):
                wrapped = store.load(owner)  # another process made it first: use theirs
                if wrapped is None:
                    raise KeyringError("the owner's data key vanished while it was being made")
            else:
                wrapped = fresh
        return AESGCM(self._open_with_keyset(wrapped, binding))

    def destroy_data_key(self, owner: uuid.UUID) -> bool:
        """Crypto-shred: delete the owner's wrapped data key (False when there was none)."""
        if self._data_keys is None:
            return False
        return self._data_keys.destroy(owner)

    def data_keys_under(self, kid: str) -> int:
        """How many wrapped data keys are sealed under key `kid` of the key set."""
        if self._data_keys is None:
            return 0
        return sum(1 for _, wrapped in self._wrapped_data_keys() if key_id_of(wrapped) == kid)

    def data_keys_to_rewrap(self) -> int:
        return sum(
            1
            for _, wrapped in self._wrapped_data_keys()
            if split_envelope(wrapped)[0] != self.primary_key_id
        )

    def _wrapped_data_keys(self) -> list[tuple[uuid.UUID, bytes]]:
        store = self._data_keys
        if store is None:
            return []
        found: list[tuple[uuid.UUID, bytes]] = []
        for owner in store.owners():
            wrapped = store.load(owner)
            if wrapped is not None:  # erased between listing and reading
                found.append((owner, wrapped))
        return found

    def rewrap_data_keys(self) -> int:
        """Wrap every data key not under the primary key again under it (key rotation).

        The data keys themselves do not change, so no value sealed under them is touched.
        """
        store = self._data_keys
        rewrapped = 0
        if store is None:
            return rewrapped
        for owner, wrapped in self._wrapped_data_keys():
            fresh = self.reseal(wrapped, data_key_binding(owner), under_keyset=True)
            if fresh is not None:
                store.replace(owner, fresh)
                rewrapped += 1
        return rewrapped

    def reseal(
        self, envelope: bytes, binding: Binding, *, under_keyset: bool = False
    ) -> bytes | None:
        """The value sealed as new values are sealed now, or None when it already is.

        With a data key store that is under the owner's data key (values sealed before data
        keys existed move there); without one, or for a wrapped data key (`under_keyset`), it
        is under the key set's primary key.
        """
        if self._data_keys is not None and not under_keyset:
            if envelope.startswith(OWNER_MAGIC):
                return None
            return self.seal(self.open(envelope, binding), binding)
        if key_id_of(envelope) == self._keyset.primary:
            return None
        return self._seal_with_keyset(self._open_with_keyset(envelope, binding), binding)


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
