"""R2: keys rotate without downtime; a rotate command re-encrypts every sealed value."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select, text

from offcoder.ai.models import AIKey
from offcoder.auth.models import OAuthIdentity
from offcoder.crypto import bindings
from offcoder.crypto.bindings import SEALED_COLUMNS, SealedColumn
from offcoder.crypto.datakeys import FileDataKeyStore
from offcoder.crypto.keyring import (
    OWNER_MAGIC,
    FileKeySource,
    Keyring,
    KeyringError,
    generate_keyset,
    key_id_of,
)
from offcoder.crypto.rotation import (
    KeyStillInUse,
    add_primary_key,
    count_under,
    reseal_all,
    retire_key,
)
from offcoder.db.engine import Database
from offcoder.projects.models import Project, ProjectSecret
from offcoder.users.models import User
from tests.support.scratch import ScratchDatabase

pytestmark = [pytest.mark.promise("R2"), pytest.mark.db]


@dataclass
class Stored:
    """Plaintexts written to the database, by (table.column, row key)."""

    plaintexts: dict[tuple[str, tuple[object, ...]], str]


async def empty(db: Database) -> None:
    async with db.system_session() as session:
        await session.execute(text("DELETE FROM users"))  # cascades to every sealed row


async def write_sealed_rows(db: Database, ring: Keyring, users: int = 3) -> Stored:
    """Users with a project secret, an AI key and provider tokens, sealed by `ring`."""
    stored: dict[tuple[str, tuple[object, ...]], str] = {}
    async with db.system_session() as session:
        for n in range(users):
            user = User(id=uuid.uuid4())
            project = Project(id=uuid.uuid4(), user_id=user.id, name=f"p{n}", slug=f"p{n}")
            identity = OAuthIdentity(
                id=uuid.uuid4(), user_id=user.id, provider="oidc", subject=f"s-{uuid.uuid4()}"
            )
            session.add(user)
            await session.flush()
            session.add_all([project, identity])
            await session.flush()
            for name in ("DB_PASSWORD", "STRIPE_KEY"):
                value = f"{name}-{uuid.uuid4()}"
                session.add(
                    ProjectSecret(
                        project_id=project.id,
                        name=name,
                        user_id=user.id,
                        value_enc=ring.seal_text(
                            value, bindings.project_secret(project.id, name, user.id)
                        ),
                    )
                )
                stored[("project_secrets.value_enc", (project.id, name))] = value
            ai_value = f"sk-{uuid.uuid4()}"
            session.add(
                AIKey(
                    user_id=user.id,
                    provider="openai",
                    last4=ai_value[-4:],
                    key_enc=ring.seal_text(ai_value, bindings.ai_key("openai", user.id)),
                )
            )
            stored[("ai_keys.key_enc", (user.id, "openai"))] = ai_value
            for column in ("access_token_enc", "refresh_token_enc"):
                token = f"{column}-{uuid.uuid4()}"
                setattr(
                    identity,
                    column,
                    ring.seal_text(token, bindings.provider_token(column, identity.id, user.id)),
                )
                stored[(f"oauth_identities.{column}", (identity.id,))] = token
    return Stored(stored)


async def read_envelopes(db: Database) -> dict[tuple[str, tuple[object, ...]], bytes]:
    found: dict[tuple[str, tuple[object, ...]], bytes] = {}
    async with db.system_session() as session:
        for sealed in SEALED_COLUMNS:
            keys = ", ".join(sealed.key_columns)
            rows = await session.execute(
                text(
                    f"SELECT {keys}, {sealed.column} FROM {sealed.table} "
                    f"WHERE {sealed.column} IS NOT NULL"
                )
            )
            for row in rows:
                found[(f"{sealed.table}.{sealed.column}", tuple(row[:-1]))] = row[-1]
    return found


async def open_all(db: Database, ring: Keyring) -> dict[tuple[str, tuple[object, ...]], str]:
    """Open every stored value with the binding of the row it is in."""
    opened: dict[tuple[str, tuple[object, ...]], str] = {}
    async with db.system_session() as session:
        for sealed in SEALED_COLUMNS:
            columns = ", ".join(dict.fromkeys([*sealed.key_columns, "user_id"]))
            rows = (
                await session.execute(
                    text(
                        f"SELECT {columns}, {sealed.column} AS value FROM {sealed.table} "
                        f"WHERE {sealed.column} IS NOT NULL"
                    )
                )
            ).mappings()
            for row in rows:
                binding = bindings.binding_for(sealed.table, sealed.column, dict(row))
                key = tuple(row[c] for c in sealed.key_columns)
                opened[(f"{sealed.table}.{sealed.column}", key)] = ring.open_text(
                    row["value"], binding
                )
    return opened


@pytest.fixture
async def db(keys_db: ScratchDatabase) -> Database:
    await empty(keys_db.database)
    return keys_db.database


async def test_rotation_reseals_every_value_and_old_servers_keep_up(
    db: Database, tmp_path: Path
) -> None:
    # given values sealed under key A, and a second server holding only key A
    source = FileKeySource(tmp_path / "keys.json")
    source.store(generate_keyset())
    key_a = source.load().primary
    stored = await write_sealed_rows(db, Keyring.from_source(source))
    second_server = Keyring(source.load())
    assert set((await read_envelopes(db)).keys()) == set(stored.plaintexts)

    # when key B is added and every value re-sealed
    _, rotated = add_primary_key(source)
    key_b = rotated.primary
    rotating = Keyring.from_source(source)

    with pytest.raises(KeyStillInUse):  # A still seals everything: it cannot go yet
        await retire_key(db, source.load(), key_a, source.store)

    result = await reseal_all(db, rotating, batch_size=2)

    # then every value is under B and opens, with its plaintext unchanged
    envelopes = await read_envelopes(db)
    assert {key_id_of(e) for e in envelopes.values()} == {key_b}
    assert result.total == len(stored.plaintexts)
    assert result.left == 0
    assert await open_all(db, rotating) == stored.plaintexts
    # and a server that loaded its keys before the rotation opens them too (reload)
    assert key_b not in second_server.key_ids()
    assert await open_all(db, second_server) == stored.plaintexts
    assert (await count_under(db, key_a)) == {f"{s.table}.{s.column}": 0 for s in SEALED_COLUMNS}

    # rerunning is a no-op: nothing re-sealed, every byte unchanged
    again = await reseal_all(db, rotating, batch_size=2)
    assert again.total == 0
    assert await read_envelopes(db) == envelopes

    # A can now be retired; the retirement is audited with ids only
    remaining = await retire_key(db, source.load(), key_a, source.store)
    assert set(remaining.keys) == {key_b}
    assert set(source.load().keys) == {key_b}
    async with db.system_session() as session:
        details = await session.scalar(
            text("SELECT details FROM audit_events WHERE action = 'keys.retired' AND target = :k"),
            {"k": key_a},
        )
    assert details == {"retired": key_a, "primary": key_b, "kept": [key_b]}


async def test_an_interrupted_rotation_loses_nothing_and_resumes(
    db: Database, tmp_path: Path
) -> None:
    source = FileKeySource(tmp_path / "keys.json")
    source.store(generate_keyset())
    stored = await write_sealed_rows(db, Keyring.from_source(source), users=4)
    add_primary_key(source)
    rotating = Keyring.from_source(source)

    class Killed(Exception):
        pass

    def die_after_first_batch(sealed: SealedColumn, count: int) -> None:
        raise Killed

    with pytest.raises(Killed):
        await reseal_all(db, rotating, batch_size=3, progress=die_after_first_batch)

    kids = [key_id_of(e) for e in (await read_envelopes(db)).values()]
    assert kids.count(rotating.primary_key_id) == 3  # one batch committed
    assert await open_all(db, rotating) == stored.plaintexts  # the rest opens under A

    resumed = await reseal_all(db, rotating, batch_size=3)
    assert resumed.total == len(stored.plaintexts) - 3
    assert {key_id_of(e) for e in (await read_envelopes(db)).values()} == {rotating.primary_key_id}
    assert await open_all(db, rotating) == stored.plaintexts


async def test_reseal_skips_a_row_a_server_is_writing(db: Database, tmp_path: Path) -> None:
    source = FileKeySource(tmp_path / "keys.json")
    source.store(generate_keyset())
    await write_sealed_rows(db, Keyring.from_source(source), users=1)
    add_primary_key(source)
    rotating = Keyring.from_source(source)
    async with db.system_session() as server:
        locked = await server.scalar(select(AIKey).with_for_update())
        assert locked is not None
        # the walk does not wait for the lock: it re-seals the rest and reports what is left
        result = await asyncio.wait_for(reseal_all(db, rotating, max_passes=1), timeout=30)
    assert result.remaining["ai_keys.key_enc"] == 1
    assert (await reseal_all(db, rotating)).left == 0


# --- the commands -------------------------------------------------------------------------


def offcoder(
    scratch: ScratchDatabase, key_file: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        **scratch.env(),
        "OFFCODER_KEY_FILE": str(key_file),
        "OFFCODER_DATA_KEY_DIR": str(key_file.parent / "data-keys"),
    }
    env.pop("OFFCODER_KEYS", None)
    return subprocess.run(
        [sys.executable, "-m", "offcoder.cli", "keys", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def key_material(key_file: Path) -> set[str]:
    """Every rendering of every key in the file that could leak: base64 and hex."""
    keys = json.loads(key_file.read_text())["keys"].values()
    return {k for k in keys} | {base64.b64decode(k).hex() for k in keys}


async def test_keys_commands(keys_db: ScratchDatabase, tmp_path: Path) -> None:
    db = keys_db.database
    await empty(db)
    key_file = tmp_path / "keys.json"

    generated = await asyncio.to_thread(
        offcoder, keys_db, key_file, "generate", "--out", str(key_file)
    )
    assert generated.returncode == 0, generated.stderr
    assert key_file.stat().st_mode & 0o777 == 0o600
    before = key_file.read_text()
    refused = await asyncio.to_thread(
        offcoder, keys_db, key_file, "generate", "--out", str(key_file)
    )
    assert refused.returncode == 1
    assert key_file.read_text() == before
    printed = await asyncio.to_thread(offcoder, keys_db, key_file, "generate")
    assert printed.returncode == 0
    assert json.loads(printed.stdout)["primary"]  # generate prints keys on stdout, by design

    key_a = json.loads(before)["primary"]
    stored = await write_sealed_rows(db, Keyring.from_source(FileKeySource(key_file)))
    rotated = await asyncio.to_thread(offcoder, keys_db, key_file, "rotate", "--batch-size", "2")
    assert rotated.returncode == 0, rotated.stderr
    key_b = json.loads(key_file.read_text())["primary"]
    assert key_b != key_a
    assert f"Re-sealed {len(stored.plaintexts)} values" in rotated.stdout
    # Values sealed before data keys moved to their owner's data key (decision 0033), and the
    # data keys are wrapped under the new primary key.
    data_keys = FileDataKeyStore(tmp_path / "data-keys")
    ring = Keyring.from_source(FileKeySource(key_file), data_keys=data_keys)
    moved = await read_envelopes(db)
    assert all(e.startswith(OWNER_MAGIC) for e in moved.values())
    assert await open_all(db, ring) == stored.plaintexts
    assert ring.data_keys_under(key_b) == 3
    with pytest.raises(KeyringError):  # the key set alone no longer opens them
        await open_all(db, Keyring.from_source(FileKeySource(key_file)))

    rerun = await asyncio.to_thread(offcoder, keys_db, key_file, "rotate", "--reseal-only")
    assert rerun.returncode == 0, rerun.stderr
    assert "Re-sealed 0 values" in rerun.stdout

    primary_refused = await asyncio.to_thread(offcoder, keys_db, key_file, "retire", key_b)
    assert primary_refused.returncode == 1
    retired = await asyncio.to_thread(offcoder, keys_db, key_file, "retire", key_a)
    assert retired.returncode == 0, retired.stderr
    assert set(json.loads(key_file.read_text())["keys"]) == {key_b}

    # A rotation with data keys in place wraps each data key again and leaves values alone.
    again = await asyncio.to_thread(offcoder, keys_db, key_file, "rotate")
    assert again.returncode == 0, again.stderr
    key_c = json.loads(key_file.read_text())["primary"]
    assert "Re-sealed 3 values" in again.stdout  # the three users' data keys
    assert await read_envelopes(db) == moved
    ring = Keyring.from_source(FileKeySource(key_file), data_keys=data_keys)
    assert (ring.data_keys_under(key_b), ring.data_keys_under(key_c)) == (0, 3)
    retired_b = await asyncio.to_thread(offcoder, keys_db, key_file, "retire", key_b)
    assert retired_b.returncode == 0, retired_b.stderr
    assert await open_all(
        db, Keyring.from_source(FileKeySource(key_file), data_keys=data_keys)
    ) == (stored.plaintexts)

    async with db.system_session() as session:
        events = (
            await session.execute(
                text(
                    "SELECT action, actor_kind, details::text FROM audit_events "
                    "WHERE action IN ('keys.rotated', 'keys.retired') AND details::text LIKE :k "
                    "ORDER BY seq"
                ),
                {"k": f"%{key_b}%"},
            )
        ).all()
    assert [(a, k) for a, k, _ in events] == [
        ("keys.rotated", "operator"),
        ("keys.rotated", "operator"),
        ("keys.retired", "operator"),
        ("keys.rotated", "operator"),
        ("keys.retired", "operator"),
    ]
    assert json.loads(events[0][2])["previous_primary"] == key_a

    # no key, old or new, in any output of rotate or retire, nor in the audit log
    secrets = (
        key_material(key_file)
        | {k for k in json.loads(before)["keys"].values()}
        | {base64.b64decode(k).hex() for k in json.loads(before)["keys"].values()}
    )
    for run in (rotated, rerun, primary_refused, retired, generated, refused, again, retired_b):
        for s in secrets:
            assert s not in run.stdout + run.stderr
    for _, _, details in events:
        assert not any(s in details for s in secrets)


async def test_rotation_with_data_keys_rewraps_them_and_retire_waits_for_them(
    db: Database, tmp_path: Path
) -> None:
    await empty(db)
    source = FileKeySource(tmp_path / "keys.json")
    source.store(generate_keyset())
    key_a = source.load().primary
    data_keys = FileDataKeyStore(tmp_path / "data-keys")
    stored = await write_sealed_rows(db, Keyring.from_source(source, data_keys=data_keys))
    envelopes = await read_envelopes(db)
    assert all(e.startswith(OWNER_MAGIC) for e in envelopes.values())

    add_primary_key(source)
    rotating = Keyring.from_source(source, data_keys=data_keys)
    with pytest.raises(KeyStillInUse) as still:  # key A still wraps the three data keys
        await retire_key(db, source.load(), key_a, source.store, rotating)
    assert still.value.counts == {"data keys": 3}

    result = await reseal_all(db, rotating, batch_size=2)
    assert result.resealed == {"data keys": 3}
    assert result.left == 0
    assert await read_envelopes(db) == envelopes  # no value had to change
    assert await open_all(db, rotating) == stored.plaintexts

    await retire_key(db, source.load(), key_a, source.store, rotating)
    assert await open_all(db, Keyring.from_source(source, data_keys=data_keys)) == (
        stored.plaintexts
    )
