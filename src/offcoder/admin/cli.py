"""`offcoder admin grant|revoke USER ROLE`: the operator's way to give admin roles (audited)."""

from __future__ import annotations

import asyncio
import getpass
from typing import Annotated

import typer
from rich.console import Console

# Only the role names at import: the command line must start without loading the server.
from offcoder.auth.models import Role

app = typer.Typer(no_args_is_help=True)
console = Console(stderr=True)


def _run(action: str, who: str, role: Role) -> None:
    from offcoder.admin import roles
    from offcoder.config import get_settings
    from offcoder.db.bootstrap import prepare

    settings = get_settings()
    database = prepare(settings).open(2)
    operator = f"operator:{getpass.getuser()}"

    async def main() -> None:
        try:
            async with database.system_session() as session:
                if action == "grant":
                    await roles.grant(session, who, role, operator)
                else:
                    await roles.revoke(session, who, role, operator)
        finally:
            await database.dispose()

    try:
        asyncio.run(main())
    except Exception as exc:
        console.print(f"[red]{action} failed:[/] {exc}")
        raise typer.Exit(1) from exc
    console.print(f"{action}: {role.value} {'to' if action == 'grant' else 'from'} {who}")


@app.command()
def grant(
    user: Annotated[str, typer.Argument(help="User id, or a verified e-mail.")],
    role: Annotated[Role, typer.Argument(help="support, finance, safety or superadmin.")],
) -> None:
    """Give an admin role (audited). The user needs MFA before it is of any use."""
    _run("grant", user, role)


@app.command()
def revoke(
    user: Annotated[str, typer.Argument(help="User id, or a verified e-mail.")],
    role: Annotated[Role, typer.Argument(help="support, finance, safety or superadmin.")],
) -> None:
    """Take an admin role back (audited)."""
    _run("revoke", user, role)
