"""`offcoder subprocessors list|add|change|remove|log`: the operator's way to keep the published
sub-processor list (V4), each change audited as the operator's."""

from __future__ import annotations

import asyncio
import getpass
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from offcoder.incidents.schemas import SubprocessorIn

app = typer.Typer(no_args_is_help=True)
console = Console(stderr=True)
T = TypeVar("T")


def _operator() -> str:
    return f"operator:{getpass.getuser()}"


def _in_transaction(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    # Imports here: the command line starts without loading the server.
    from offcoder.config import get_settings
    from offcoder.db.bootstrap import prepare

    database = prepare(get_settings()).open(2)

    async def main() -> T:
        try:
            async with database.system_session() as session:
                return await work(session)
        finally:
            await database.dispose()

    try:
        return asyncio.run(main())
    except Exception as exc:
        console.print(f"[red]failed:[/] {exc}")
        raise typer.Exit(1) from exc


Categories = Annotated[
    list[str], typer.Option("--data", help="A category of personal data (repeat the option).")
]


def _entry(
    name: str, purpose: str, data: list[str], location: str, transfer: str, note: str
) -> SubprocessorIn:
    from offcoder.incidents.schemas import SubprocessorIn

    return SubprocessorIn(
        name=name,
        purpose=purpose,
        data_categories=data,
        location=location,
        transfer_mechanism=transfer,
        note=note,
    )


@app.command("list")
def list_() -> None:
    """The published list, as JSON."""
    from offcoder.incidents import subprocessors
    from offcoder.incidents.schemas import SubprocessorOut

    async def work(session: AsyncSession) -> list[dict[str, object]]:
        rows = await subprocessors.current_list(session)
        return [SubprocessorOut.model_validate(r).model_dump(mode="json") for r in rows]

    typer.echo(json.dumps(_in_transaction(work), indent=2))


@app.command()
def add(
    name: str,
    purpose: Annotated[str, typer.Option()],
    data: Categories,
    location: Annotated[str, typer.Option()],
    transfer: Annotated[str, typer.Option(help="e.g. 'EU SCCs', 'adequacy decision'.")],
    note: Annotated[str, typer.Option()] = "",
) -> None:
    """Add a sub-processor (published at once, in the change log as added)."""
    from offcoder.incidents import subprocessors

    entry = _entry(name, purpose, data, location, transfer, note)

    async def work(session: AsyncSession) -> None:
        await subprocessors.add(session, entry, _operator())

    _in_transaction(work)
    console.print(f"added: {name}")


@app.command()
def change(
    name: str,
    purpose: Annotated[str, typer.Option()],
    data: Categories,
    location: Annotated[str, typer.Option()],
    transfer: Annotated[str, typer.Option()],
    note: Annotated[str, typer.Option()] = "",
) -> None:
    """Replace a sub-processor's entry (in the change log as changed)."""
    from offcoder.incidents import subprocessors

    entry = _entry(name, purpose, data, location, transfer, note)

    async def work(session: AsyncSession) -> None:
        await subprocessors.change(session, name, entry, _operator())

    _in_transaction(work)
    console.print(f"changed: {name}")


@app.command()
def remove(name: str, note: Annotated[str, typer.Option()] = "") -> None:
    """Take a sub-processor off the list (in the change log as removed)."""
    from offcoder.incidents import subprocessors

    async def work(session: AsyncSession) -> None:
        await subprocessors.remove(session, name, _operator(), note)

    _in_transaction(work)
    console.print(f"removed: {name}")


@app.command("log")
def log() -> None:
    """Every change, newest first, as JSON."""
    from offcoder.incidents import subprocessors
    from offcoder.incidents.schemas import SubprocessorChangeOut

    async def work(session: AsyncSession) -> list[dict[str, object]]:
        rows = await subprocessors.change_log(session)
        return [SubprocessorChangeOut.model_validate(r).model_dump(mode="json") for r in rows]

    typer.echo(json.dumps(_in_transaction(work), indent=2))
