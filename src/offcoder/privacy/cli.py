"""`offcoder policies publish DOCUMENT VERSION`: an operator publishes a new version of the terms
or the privacy policy (audited); every user is asked to accept it on their next console page."""

from __future__ import annotations

import asyncio
import getpass
from typing import Annotated

import typer
from rich.console import Console

# Only the document names at import: the command line must start without loading the server.
from offcoder.privacy.consent import Document

app = typer.Typer(no_args_is_help=True)
console = Console(stderr=True)


@app.command()
def publish(
    document: Annotated[Document, typer.Argument(help="terms or privacy.")],
    version: Annotated[str, typer.Argument(help="The version's name, e.g. 2026-12-07.")],
    url: Annotated[str | None, typer.Option(help="Where the full text is published.")] = None,
    summary: Annotated[str | None, typer.Option(help="What changed, in a sentence.")] = None,
) -> None:
    """Publish a policy version: it becomes current, and users are asked to accept it."""
    from offcoder.config import get_settings
    from offcoder.db.bootstrap import prepare
    from offcoder.privacy import consent

    database = prepare(get_settings()).open(2)

    async def main() -> None:
        try:
            async with database.system_session() as session:
                await consent.publish(
                    session,
                    document,
                    version,
                    url=url,
                    summary=summary,
                    published_by=f"operator:{getpass.getuser()}",
                )
        finally:
            await database.dispose()

    try:
        asyncio.run(main())
    except Exception as exc:
        console.print(f"[red]publish failed:[/] {exc}")
        raise typer.Exit(1) from exc
    console.print(f"published: {document.value} {version}")
