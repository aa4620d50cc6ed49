"""V3 / R2: each user's values are sealed under a data key of their own, wrapped by the key set
and kept outside the database; destroying it makes every copy of those values unreadable."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from offcoder.config import Environment, Settings
from offcoder.crypto import bindings
from offcoder.crypto.datakeys import FileDataKeyStore
from offcoder.crypto.keyring import (
    MAGIC,
    NONCE_BYTES,
    OWNER_MAGIC,
    FileKeySource,
    Keyring,
    KeyringError,
    data_key_binding,
    generate_keyset,
    key_id_of,
)
from offcoder.crypto.rotation import add_primary_key

pytestmark = [pytest.mark.promise("V3")]

ALICE, BOB = uuid.uuid4(), uuid.uuid4()
PROJECT = uuid.UUID(int=7)


def secret_of(owner: uuid.UUID) -> bindings.Binding:
    return bindings.project_secret(PROJECT, "TOKEN", owner)


@pytest.fixture
def source(tmp_path: Path) -> FileKeySource:
    keys = FileKeySource(tmp_path / "keys.json")
    keys.store(generate_keyset())
    return keys


@pytest.fixture
def store(tmp_path: Path) -> FileDataKeyStore:
    return FileDataKeyStore(tmp_path / "data-keys")


def test_a_value_is_sealed_under_its_owners_data_key(
    source: FileKeySource, store: FileDataKeyStore
) -> None:
    ring = Keyring.from_source(source, data_keys=store)
    envelope = ring.seal_text("alice's value", secret_of(ALICE))
    assert envelope.startswith(OWNER_MAGIC)
    assert ring.open_text(envelope, secret_of(ALICE)) == "alice's value"
    # The data key is stored only wrapped, under the key set's primary key, bound to its owner.
    wrapped = store.load(ALICE)
    assert wrapped is not None and wrapped.startswith(MAGIC)
    assert key_id_of(wrapped) == source.load().primary
    data_key = Keyring(source.load()).open(wrapped, data_key_binding(ALICE))
    assert len(data_key) == 32
    nonce = envelope[len(OWNER_MAGIC) : len(OWNER_MAGIC) + NONCE_BYTES]
    sealed = envelope[len(OWNER_MAGIC) + NONCE_BYTES :]
    assert AESGCM(data_key).decrypt(nonce, sealed, secret_of(ALICE).aad()) == b"alice's value"
    # Another owner's data key does not open it, even with the row moved to their name.
    ring.seal_text("bob's value", secret_of(BOB))
    with pytest.raises(KeyringError):
        ring.open(envelope, secret_of(BOB))
    # The wrapped key does not unwrap as another owner's key either.
    with pytest.raises(KeyringError):
        Keyring(source.load()).open(wrapped, data_key_binding(BOB))


def test_destroying_a_data_key_shreds_the_owners_values_in_every_process(
    source: FileKeySource, store: FileDataKeyStore
) -> None:
    server = Keyring.from_source(source, data_keys=store)
    other_server = Keyring.from_source(source, data_keys=FileDataKeyStore(store.directory))
    alice = server.seal_text("alice", secret_of(ALICE))
    bob = server.seal_text("bob", secret_of(BOB))
    assert other_server.open_text(alice, secret_of(ALICE)) == "alice"

    assert server.destroy_data_key(ALICE) is True
    assert server.destroy_data_key(ALICE) is False  # erasure can be retried
    for ring in (server, other_server):  # no process keeps the key in memory
        with pytest.raises(KeyringError, match="data key does not exist"):
            ring.open(alice, secret_of(ALICE))
        assert ring.open_text(bob, secret_of(BOB)) == "bob"
    assert list(store.owners()) == [BOB]


def test_values_sealed_before_data_keys_still_open_and_move_to_them(
    source: FileKeySource, store: FileDataKeyStore
) -> None:
    older = Keyring.from_source(source).seal_text("from before", secret_of(ALICE))
    assert older.startswith(MAGIC)
    ring = Keyring.from_source(source, data_keys=store)
    assert ring.open_text(older, secret_of(ALICE)) == "from before"
    moved = ring.reseal(older, secret_of(ALICE))
    assert moved is not None and moved.startswith(OWNER_MAGIC)
    assert ring.open_text(moved, secret_of(ALICE)) == "from before"
    assert ring.reseal(moved, secret_of(ALICE)) is None


def test_rotation_rewraps_data_keys_and_leaves_values_alone(
    source: FileKeySource, store: FileDataKeyStore
) -> None:
    ring = Keyring.from_source(source, data_keys=store)
    envelope = ring.seal_text("kept", secret_of(ALICE))
    ring.seal_text("kept too", secret_of(BOB))
    key_a = source.load().primary
    _, rotated = add_primary_key(source)
    rotating = Keyring.from_source(source, data_keys=store)
    assert (rotating.data_keys_under(key_a), rotating.data_keys_to_rewrap()) == (2, 2)
    assert rotating.rewrap_data_keys() == 2
    assert rotating.rewrap_data_keys() == 0
    assert rotating.data_keys_under(rotated.primary) == 2
    # The same data key, wrapped anew: the value opens, on a server that loaded only key A too
    # (it reloads the source on meeting the new key id).
    assert rotating.open_text(envelope, secret_of(ALICE)) == "kept"
    assert ring.open_text(envelope, secret_of(ALICE)) == "kept"


def test_a_rotation_cannot_bring_back_a_key_erasure_destroyed(
    source: FileKeySource, store: FileDataKeyStore
) -> None:
    ring = Keyring.from_source(source, data_keys=store)
    ring.seal_text("gone", secret_of(ALICE))
    wrapped = store.load(ALICE)
    assert wrapped is not None
    store.destroy(ALICE)  # erasure, between the rotation's read and its write
    store.replace(ALICE, wrapped)
    assert store.load(ALICE) is None


def test_the_store_keeps_keys_private_and_the_first_one_made(store: FileDataKeyStore) -> None:
    assert store.create(ALICE, b"first") is True
    assert store.create(ALICE, b"second") is False  # a racing process keeps the first
    assert store.load(ALICE) == b"first"
    assert store.directory.stat().st_mode & 0o777 == 0o700
    assert (store.directory / f"{ALICE}.key").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in store.directory.iterdir() if p.name.endswith(".tmp")] == []


def test_production_keeps_data_keys_apart_from_an_embedded_database(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    embedded = Settings(env=Environment.production, state_dir=tmp_path / "state", key_file=keys)
    assert any("OFFCODER_DATA_KEY_DIR" in p for p in embedded.production_problems("worker"))
    apart = embedded.model_copy(update={"data_key_dir": tmp_path / "data-keys"})
    assert not any("OFFCODER_DATA_KEY_DIR" in p for p in apart.production_problems("worker"))
    external = embedded.model_copy(update={"database_url": "postgresql://o@db.internal/o"})
    assert not any("OFFCODER_DATA_KEY_DIR" in p for p in external.production_problems("worker"))
