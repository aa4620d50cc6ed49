"""`offcoder audit verify` and `offcoder audit purge` (O3), run by an operator."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(no_args_is_help=True)
out = Console()
err = Console(stderr=True)


@app.command()
def verify(
    batch_size: Annotated[int, typer.Option(help="Events read per query.")] = 1000,
) -> None:
    """Recompute the hash chain of the whole log; exit 1 naming the first broken event."""
    from offcoder.audit.verify import verify_chain
    from offcoder.config import get_settings
    from offcoder.db.bootstrap import prepare

    prepared = prepare(get_settings())

    async def summarise() -> tuple[bool, str]:
        database = prepared.open(pool_size=1)
        try:
            async with database.system_session() as session:
                report = await verify_chain(session, batch_size=batch_size)
        finally:
            await database.dispose()
        return report.intact, report.summary()

    intact, summary = asyncio.run(summarise())
    if not intact:
        err.print(f"[bold red]{summary}[/]")
        raise typer.Exit(1)
    out.print(summary)


@app.command()
def purge(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be purged; delete nothing.")
    ] = False,
) -> None:
    """Delete events older than OFFCODER_AUDIT_RETENTION_DAYS (at least 18 months)."""
    from offcoder.audit.retention import purge_expired
    from offcoder.config import get_settings
    from offcoder.db.bootstrap import prepare

    settings = get_settings()
    prepared = prepare(settings)
    if settings.audit_retention_days < 548:
        err.print(
            f"OFFCODER_AUDIT_RETENTION_DAYS={settings.audit_retention_days} is shorter than the "
            "18 months the log promises: events younger than 18 months are kept regardless."
        )

    async def run() -> tuple[int, int | None]:
        database = prepared.open(pool_size=1)
        try:
            async with database.system_session() as session:
                result = await purge_expired(
                    session, retention_days=settings.audit_retention_days, dry_run=dry_run
                )
        finally:
            await database.dispose()
        return result.count, result.through_seq

    count, through = asyncio.run(run())
    days = settings.audit_retention_days
    if dry_run:
        out.print(
            f"would purge {count} events older than {days} days"
            + (f" (through seq {through})" if through is not None else "")
        )
    else:
        out.print(
            f"purged {count} events older than {days} days"
            + (f" (through seq {through})" if through is not None else "")
            + "; recorded as audit.purged"
        )
