"""R2: AES-256-GCM under an external 256-bit key with an id, bound to its owner and row."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from offcoder.context import AppContext
from offcoder.crypto import bindings
from offcoder.crypto.keyring import (
    MAGIC,
    NONCE_BYTES,
    Binding,
    FileKeySource,
    Keyring,
    KeyringError,
    KeySet,
    generate_keyset,
    key_id_of,
    split_envelope,
)
from offcoder.crypto.rotation import add_primary_key

pytestmark = [pytest.mark.promise("R2")]

OWNER = uuid.uuid4()
HERE = bindings.project_secret(uuid.UUID(int=1), "API_TOKEN", OWNER)


def test_round_trip_is_aes_256_gcm_under_the_primary_key() -> None:
    keyset = generate_keyset()
    ring = Keyring(keyset)
    envelope = ring.seal_text("s3cret value", HERE)
    assert ring.open_text(envelope, HERE) == "s3cret value"
    # the envelope names its key and opens with plain AES-256-GCM, the binding as AAD
    kid, nonce, sealed = split_envelope(envelope)
    assert kid == key_id_of(envelope) == keyset.primary
    assert envelope.startswith(MAGIC + bytes([len(kid)]) + kid.encode())
    key = keyset.keys[kid]
    assert len(key) == 32
    assert AESGCM(key).decrypt(nonce, sealed, HERE.aad()) == b"s3cret value"
    assert b"s3cret value" not in envelope


def test_every_seal_has_a_fresh_96_bit_nonce() -> None:
    ring = Keyring(generate_keyset())
    envelopes = [ring.seal_text("same value", HERE) for _ in range(500)]
    nonces = {split_envelope(e)[1] for e in envelopes}
    assert len(next(iter(nonces))) == NONCE_BYTES == 12
    assert len(nonces) == len(envelopes)
    assert len(set(envelopes)) == len(envelopes)


def test_tampered_ciphertext_does_not_open() -> None:
    ring = Keyring(generate_keyset())
    envelope = bytearray(ring.seal_text("value", HERE))
    for position in (len(envelope) - 1, len(envelope) - 20, len(envelope) - 30):
        tampered = bytearray(envelope)
        tampered[position] ^= 0x01
        with pytest.raises(KeyringError):
            ring.open(bytes(tampered), HERE)
    with pytest.raises(KeyringError):
        ring.open(bytes(envelope[:-1]), HERE)


@pytest.mark.parametrize(
    "elsewhere",
    [
        Binding("ai_keys", HERE.column, HERE.row, OWNER),  # other table
        Binding(HERE.table, "other_enc", HERE.row, OWNER),  # other column
        bindings.project_secret(uuid.UUID(int=2), "API_TOKEN", OWNER),  # other row
        bindings.project_secret(uuid.UUID(int=1), "OTHER", OWNER),  # other row (name)
        bindings.project_secret(uuid.UUID(int=1), "API_TOKEN", uuid.uuid4()),  # other owner
    ],
)
def test_a_value_copied_elsewhere_does_not_open(elsewhere: Binding) -> None:
    ring = Keyring(generate_keyset())
    envelope = ring.seal_text("value", HERE)
    with pytest.raises(KeyringError):
        ring.open(envelope, elsewhere)


def test_a_value_does_not_open_under_another_key() -> None:
    keyset = generate_keyset()
    envelope = Keyring(keyset).seal_text("value", HERE)
    # the same key id holding different key material
    impostor = KeySet(primary=keyset.primary, keys={keyset.primary: AESGCM.generate_key(256)})
    with pytest.raises(KeyringError):
        Keyring(impostor).open(envelope, HERE)
    # a key set without that key id at all
    with pytest.raises(KeyringError, match="not loaded"):
        Keyring(generate_keyset()).open(envelope, HERE)


def test_a_server_holding_the_old_set_opens_values_sealed_after_a_rotation(
    tmp_path: Path,
) -> None:
    source = FileKeySource(tmp_path / "keys.json")
    source.store(generate_keyset())
    second_server = Keyring(source.load())  # what main.py builds: the set remembers its file
    stale_copy = Keyring(KeySet(source.load().primary, dict(source.load().keys)))

    _, rotated = add_primary_key(source)
    first_server = Keyring.from_source(source)
    envelope = first_server.seal_text("after rotation", HERE)
    assert key_id_of(envelope) == rotated.primary

    assert rotated.primary not in second_server.key_ids()
    assert second_server.open_text(envelope, HERE) == "after rotation"
    assert rotated.primary in second_server.key_ids()
    # without a source to reload from, the same open fails: the reload is what makes it work
    with pytest.raises(KeyringError, match="not loaded"):
        stale_copy.open(envelope, HERE)


def test_reload_is_rate_limited(tmp_path: Path) -> None:
    class CountingSource(FileKeySource):
        loads = 0

        def load(self) -> KeySet:
            CountingSource.loads += 1
            return super().load()

    source = CountingSource(tmp_path / "keys.json")
    source.store(generate_keyset())
    ring = Keyring.from_source(source, reload_interval=3600)
    forged = Keyring(generate_keyset()).seal_text("x", HERE)
    before = CountingSource.loads
    for _ in range(20):
        with pytest.raises(KeyringError):
            ring.open(forged, HERE)
    assert CountingSource.loads - before == 1


def test_sealing_moves_to_the_new_primary_after_refresh(tmp_path: Path) -> None:
    source = FileKeySource(tmp_path / "keys.json")
    source.store(generate_keyset())
    server = Keyring(source.load(), refresh_after=0)
    _, rotated = add_primary_key(source)
    assert key_id_of(server.seal_text("v", HERE)) == rotated.primary


def test_key_file_is_private(tmp_path: Path) -> None:
    source = FileKeySource(tmp_path / "keys.json")
    source.store(generate_keyset())
    assert (source.path.stat().st_mode & 0o777) == 0o600


def test_the_running_server_can_reload_its_keys(context: AppContext) -> None:
    assert context.keyring.reload(force=True)


def test_key_material_never_appears_in_error_messages() -> None:
    keyset = generate_keyset()
    ring = Keyring(keyset)
    envelope = ring.seal_text("value", HERE)
    secrets = {base64.b64encode(k).decode() for k in keyset.keys.values()} | {
        k.hex() for k in keyset.keys.values()
    }
    for attempt in (
        lambda: ring.open(envelope[:-2], HERE),
        lambda: ring.open(envelope, bindings.ai_key("x", OWNER)),
        lambda: KeySet.from_json('{"primary": "a", "keys": {"a": "AAAA"}}'),
    ):
        with pytest.raises(KeyringError) as caught:
            attempt()
        assert not any(s in str(caught.value) for s in secrets)
    for shown in (repr(keyset), str(keyset), repr(ring.__dict__)):
        assert not any(s in shown for s in secrets)
        assert not any(str(k) in shown for k in keyset.keys.values())
