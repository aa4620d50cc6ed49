"""V3: erasure by crypto-shredding. A database backup taken before a user's erasure still holds
their sealed values, and after the erasure they no longer open, while everyone else's do."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from offcoder.context import AppContext
from offcoder.crypto.bindings import SEALED_COLUMNS, binding_for
from offcoder.crypto.datakeys import FileDataKeyStore
from offcoder.crypto.keyring import OWNER_MAGIC, Keyring, KeyringError
from offcoder.crypto.sources import data_key_store, key_source
from offcoder.db.bootstrap import PreparedDatabase, sync_url
from tests.support.backups import dump, restored
from tests.support.mfa import enrolled
from tests.support.projects import new_project
from tests.support.signin import SignedIn
from tests.support.users import user_id

pytestmark = [pytest.mark.promise("V3"), pytest.mark.db]

Sealed = dict[tuple[str, tuple[object, ...]], bytes]


async def give_sealed_values(api: httpx.AsyncClient, user: SignedIn, tag: str) -> dict[str, str]:
    """A project secret, an AI key and an MFA secret, through the API (the sign-in already
    sealed the provider's tokens). Returns what each sealed column should open to."""
    project = await new_project(api, user, f"shred {tag}")
    secret = f"db-password-of-{tag}"
    put = await api.put(
        f"/v1/projects/{project['id']}/secrets/DB_PASSWORD",
        headers=user.headers,
        json={"value": secret},
    )
    assert put.status_code == 200, put.text
    ai_key = f"sk-test-{tag}-0123456789abcdef"
    stored = await api.put("/v1/ai/keys/openai", headers=user.headers, json={"api_key": ai_key})
    assert stored.status_code == 200, stored.text
    totp, _ = await enrolled(api, user)
    return {
        "project_secrets.value_enc": secret,
        "ai_keys.key_enc": ai_key,
        "mfa_totp.secret_enc": totp.secret,
    }


def sealed_rows(url: URL, owner: uuid.UUID) -> dict[str, list[tuple[bytes, dict[str, object]]]]:
    """Every sealed value of `owner` in the database at `url`, by table.column."""
    engine = create_engine(sync_url(url))
    found: dict[str, list[tuple[bytes, dict[str, object]]]] = {}
    try:
        with engine.connect() as conn:
            for sealed in SEALED_COLUMNS:
                columns = ", ".join(dict.fromkeys([*sealed.key_columns, "user_id"]))
                rows = conn.execute(
                    text(
                        f"SELECT {columns}, {sealed.column} AS value FROM {sealed.table} "
                        f"WHERE user_id = :u AND {sealed.column} IS NOT NULL"
                    ),
                    {"u": owner},
                ).mappings()
                for row in rows:
                    found.setdefault(f"{sealed.table}.{sealed.column}", []).append(
                        (bytes(row["value"]), dict(row))
                    )
    finally:
        engine.dispose()
    return found


def open_all(
    ring: Keyring, rows: dict[str, list[tuple[bytes, dict[str, object]]]]
) -> dict[str, list[str | KeyringError]]:
    """Each value opened with its row's binding, or the error that refused it."""
    opened: dict[str, list[str | KeyringError]] = {}
    for name, values in rows.items():
        table, column = name.split(".")
        for envelope, row in values:
            try:
                result: str | KeyringError = ring.open_text(
                    envelope, binding_for(table, column, row)
                )
            except KeyringError as exc:
                result = exc
            opened.setdefault(name, []).append(result)
    return opened


async def test_an_erased_users_values_do_not_open_from_a_backup_taken_before(
    api: httpx.AsyncClient,
    context: AppContext,
    prepared: PreparedDatabase,
    alice: SignedIn,
    bob: SignedIn,
    tmp_path: Path,
) -> None:
    erased, kept = await user_id(api, alice), await user_id(api, bob)
    expected = {
        erased: await give_sealed_values(api, alice, "alice"),
        kept: await give_sealed_values(api, bob, "bob"),
    }
    store = data_key_store(context.settings)
    # The key store as it was when the backup was taken: what an operator who also kept the
    # key store's own backups would hold (decision 0033 says those must expire).
    kept_store = tmp_path / "data-keys-at-backup"
    shutil.copytree(store.directory, kept_store)
    backup = dump(prepared.admin_url, tmp_path / "before-erasure.dump")

    assert (await api.delete("/v1/me", headers=alice.headers)).status_code == 204
    assert store.load(erased) is None and store.load(kept) is not None

    with restored(prepared.admin_url, backup) as url:
        erased_rows, kept_rows = sealed_rows(url, erased), sealed_rows(url, kept)
    # The backup holds both users' sealed values, each under its owner's data key, the
    # provider's tokens the sign-in sealed among them.
    names = {*expected[erased], "oauth_identities.access_token_enc"}
    names |= {"oauth_identities.refresh_token_enc"}
    assert set(erased_rows) == set(kept_rows) == names
    for rows in (erased_rows, kept_rows):
        assert all(env.startswith(OWNER_MAGIC) for values in rows.values() for env, _ in values)

    # With the server's keyring and key store as they are after the erasure: the erased
    # user's values do not open, the other user's do.
    after = context.keyring
    for name, results in open_all(after, erased_rows).items():
        assert all(isinstance(r, KeyringError) for r in results), name
    opened = open_all(after, kept_rows)
    assert not [r for results in opened.values() for r in results if isinstance(r, KeyringError)]
    for name, plaintext in expected[kept].items():
        assert opened[name] == [plaintext]

    # What the guarantee rests on, and nothing more: the same backup with the key store as it
    # was before the erasure opens the erased user's values.
    keys = key_source(context.settings)
    with_old_store = Keyring.from_source(keys, data_keys=FileDataKeyStore(kept_store))
    reopened = open_all(with_old_store, erased_rows)
    for name, plaintext in expected[erased].items():
        assert reopened[name] == [plaintext]
