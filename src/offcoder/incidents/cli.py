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


# `offcoder incidents list|send`: the register from a terminal, for when the dashboard is not
# at hand: the clocks, and the e-mail queue sent now rather than at the worker's next round.
incidents_app = typer.Typer(no_args_is_help=True)


@incidents_app.command("list")
def incidents_list() -> None:
    """Every incident's current version with its authority deadlines, as JSON."""
    from offcoder.incidents import register
    from offcoder.incidents.schemas import IncidentOut

    async def work(session: AsyncSession) -> tuple[list[dict[str, object]], int]:
        listed: list[dict[str, object]] = []
        overdue = 0
        for row in await register.all_current(session):
            clocks = register.deadlines(row)
            overdue += any(d.overdue for d in clocks)
            listed.append(
                {
                    "incident": IncidentOut.model_validate(row).model_dump(mode="json"),
                    "deadlines": [d.model_dump(mode="json") for d in clocks],
                    "emails": await register.email_counts(session, row.incident_id),
                }
            )
        return listed, overdue

    listed, overdue = _in_transaction(work)
    typer.echo(json.dumps(listed, indent=2))
    if overdue:
        console.print(f"[red]{overdue} incident(s) past an authority deadline, not notified[/]")


@incidents_app.command("send")
def incidents_send() -> None:
    """Send the due breach e-mails now (what the worker does every 30 s)."""
    from offcoder.config import get_settings
    from offcoder.db.bootstrap import prepare
    from offcoder.incidents import mailer

    settings = get_settings()
    if not settings.smtp_host:
        console.print("[red]OFFCODER_SMTP_HOST is not set: nothing can be sent.[/]")
        raise typer.Exit(1)
    database = prepare(settings).open(2)

    async def main() -> int:
        try:
            return await mailer.send_due(database, settings)
        finally:
            await database.dispose()

    console.print(f"sent: {asyncio.run(main())}")
