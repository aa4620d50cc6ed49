"""`offcoder keys generate | rotate | retire` (R2).

Only `generate` (by design) and rotate/retire for keys kept in OFFCODER_KEYS (which cannot be
written from here, so the operator must deploy the printed set) print key material, and only
to stdout. Everything else names keys by id.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from offcoder.crypto.keyring import (
    EnvKeySource,
    Keyring,
    KeyringError,
    KeySet,
    KeySource,
    generate_keyset,
)

if TYPE_CHECKING:
    from offcoder.config import Settings
    from offcoder.db.engine import Database

app = typer.Typer(no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True)


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]{message}[/]")
    return typer.Exit(code)


def _source(settings: Settings) -> KeySource:
    from offcoder.crypto.sources import key_source

    return key_source(settings, create=False)


def _database(settings: Settings) -> Database:
    from offcoder.db.bootstrap import prepare

    return prepare(settings).open(pool_size=2)


@app.command()
def generate(
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the key set to this file (mode 0600).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Print (or write) a new key set: one random 256-bit key, which is the primary."""
    keyset = generate_keyset()
    if out_file is None:
        out.print(keyset.to_json(), markup=False, highlight=False)
        return
    if force:
        from offcoder.crypto.keyring import FileKeySource

        FileKeySource(out_file).store(keyset)
    else:
        try:
            fd = os.open(out_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise _fail(f"{out_file} exists: refusing to overwrite it (use --force)") from None
        with os.fdopen(fd, "w") as fh:
            fh.write(keyset.to_json())
    err.print(f"Wrote key set with primary key {keyset.primary} to {out_file} (mode 0600).")


@app.command()
def rotate(
    reseal_only: Annotated[
        bool,
        typer.Option(
            "--reseal-only",
            help="Add no key: re-seal values not yet under the current primary key "
            "(finishes an interrupted rotation, or one whose key set was deployed by hand).",
        ),
    ] = False,
    batch_size: Annotated[int, typer.Option(help="Rows per transaction.")] = 200,
) -> None:
    """Add a new primary key, then re-seal every stored secret under it, online."""
    from offcoder.config import get_settings
    from offcoder.crypto.rotation import add_primary_key

    settings = get_settings()
    try:
        source = _source(settings)
        previous = source.load().primary
        if not reseal_only:
            if isinstance(source, EnvKeySource):
                rotated = source.load().with_new_primary()
                out.print(rotated.to_json(), markup=False, highlight=False)
                err.print(
                    f"New primary key {rotated.primary}. Keys come from OFFCODER_KEYS, which this "
                    "command cannot change: deploy the key set printed above to every server, "
                    "then run `offcoder keys rotate --reseal-only`."
                )
                return
            _, rotated = add_primary_key(source)
            err.print(f"Added primary key {rotated.primary} (previous primary {previous}).")
            previous_primary: str | None = previous
        else:
            previous_primary = None
        from offcoder.crypto.sources import server_keyring

        keyring = server_keyring(settings, source)
    except KeyringError as exc:
        raise _fail(str(exc)) from exc
    asyncio.run(_reseal(settings, keyring, previous_primary, batch_size))


async def _reseal(
    settings: Settings, keyring: Keyring, previous_primary: str | None, batch_size: int
) -> None:
    from offcoder.crypto.bindings import SealedColumn
    from offcoder.crypto.rotation import (
        DATA_KEYS,
        count_to_reseal,
        label,
        record_rotation,
        reseal_all,
    )

    database = _database(settings)
    try:
        todo = await count_to_reseal(database, keyring)
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err
        ) as bar:
            tasks = {name: bar.add_task(name, total=count) for name, count in todo.items()}

            def advance(sealed: SealedColumn, count: int) -> None:
                bar.advance(tasks[label(sealed)], count)

            try:
                result = await reseal_all(
                    database, keyring, batch_size=batch_size, progress=advance
                )
                if DATA_KEYS in tasks:  # re-wrapped as a whole, not batch by batch
                    bar.update(tasks[DATA_KEYS], completed=result.resealed.get(DATA_KEYS, 0))
            except KeyringError as exc:
                raise _fail(
                    f"{exc}. Values re-sealed so far are committed; fix the cause and run "
                    "`offcoder keys rotate --reseal-only` to continue."
                ) from exc
        await record_rotation(database, previous_primary, result)
    finally:
        await database.dispose()
    out.print(f"Re-sealed {result.total} values under primary key {result.primary}.")
    if result.left:
        raise _fail(
            f"{result.left} values are still under older keys (servers were writing them): "
            "run `offcoder keys rotate --reseal-only` again."
        )
    out.print(
        "Every value is under the primary key. Once every server has picked up the new key "
        "(within a minute, or after a restart), older keys can be removed with "
        "`offcoder keys retire KID`."
    )


@app.command()
def retire(kid: Annotated[str, typer.Argument(help="The id of the key to remove.")]) -> None:
    """Remove an old key, refused while any value is still sealed under it."""
    from offcoder.config import get_settings
    from offcoder.crypto.rotation import KeyStillInUse, retire_key
    from offcoder.crypto.sources import server_keyring

    settings = get_settings()
    try:
        source = _source(settings)
        keyset = source.load()
        keyring = server_keyring(settings, source)
    except KeyringError as exc:
        raise _fail(str(exc)) from exc

    def publish(remaining: KeySet) -> None:
        if isinstance(source, EnvKeySource):
            out.print(remaining.to_json(), markup=False, highlight=False)
            err.print("Keys come from OFFCODER_KEYS: deploy the key set printed above.")
        else:
            source.store(remaining)

    async def run() -> KeySet:
        database = _database(settings)
        try:
            return await retire_key(database, keyset, kid, publish, keyring)
        finally:
            await database.dispose()

    try:
        remaining = asyncio.run(run())
    except KeyStillInUse as exc:
        raise _fail(str(exc)) from exc
    except KeyringError as exc:
        raise _fail(str(exc)) from exc
    out.print(f"Retired key {kid}; keys now: {', '.join(sorted(remaining.keys))}.")
