"""`offcoder jobs purge`: delete the logs of jobs that ended long enough ago (an operator's
command; the workers run the same purge every hour with OFFCODER_LOG_RETENTION_DAYS)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True)


@app.command()
def purge(
    older_than_days: Annotated[
        int | None,
        typer.Option(
            "--older-than-days",
            min=1,
            help="Purge the logs of jobs that ended more than this many days ago "
            "(default: OFFCODER_LOG_RETENTION_DAYS).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be purged; delete nothing.")
    ] = False,
) -> None:
    """Delete the output of jobs that ended long ago; the jobs, their endings and usage stay."""
    from offcoder.config import get_settings
    from offcoder.db.bootstrap import prepare
    from offcoder.jobs import retention

    settings = get_settings()
    days = older_than_days or settings.log_retention_days
    prepared = prepare(settings)

    async def run() -> retention.Purged:
        database = prepared.open(pool_size=1)
        try:
            if dry_run:
                return await retention.would_purge(database, days)
            return await retention.purge_logs(database, days)
        finally:
            await database.dispose()

    purged = asyncio.run(run())
    verb = "would purge" if dry_run else "purged"
    typer.echo(
        f"{verb} the logs of {purged.jobs} jobs ({purged.chunks} chunks, {purged.bytes} bytes) "
        f"that ended more than {days} days ago"
    )
