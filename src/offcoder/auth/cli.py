"""`offcoder auth purge`: delete the sign-in rows that can no longer change an answer (an
operator's command; every worker runs the same purge every 10 minutes)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True)


@app.command()
def purge(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be purged; delete nothing.")
    ] = False,
) -> None:
    """Delete expired sign-in requests, codes, link codes and device sign-in requests, and
    dead refresh tokens."""
    from offcoder.auth import retention
    from offcoder.config import get_settings
    from offcoder.db.bootstrap import prepare

    prepared = prepare(get_settings())

    async def run() -> retention.Purged:
        database = prepared.open(pool_size=1)
        try:
            if dry_run:
                return await retention.would_purge(database)
            return await retention.purge_expired(database)
        finally:
            await database.dispose()

    purged = asyncio.run(run())
    typer.echo(f"{'would purge' if dry_run else 'purged'} {purged}")
