"""`offcoder runtime ...`: the sandbox runtime's operator commands."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(no_args_is_help=True)
console = Console(stderr=True)


def _human(size: int) -> str:
    return f"{size / 1_000_000:.0f} MB"


@app.command("images")
def images(
    force: Annotated[
        bool, typer.Option("--force", help="Rebuild even when the images are current.")
    ] = False,
    only: Annotated[
        str | None, typer.Option("--only", help="Build only this image (python or node).")
    ] = None,
) -> None:
    """Build the runtime images locally (no registry needed); a no-op when they are current."""
    from offcoder.runtime.build.images import ImageBuildError, build_images
    from offcoder.runtime.catalogue import IMAGES

    if only is not None and only not in IMAGES:
        console.print(f"[red]unknown image {only!r}; available: {', '.join(sorted(IMAGES))}[/]")
        raise typer.Exit(2)
    started = time.monotonic()
    try:
        results = build_images([only] if only else None, force=force, console=console)
    except ImageBuildError as exc:
        console.print(f"[bold red]runtime images: {exc}[/]", highlight=False)
        raise typer.Exit(1) from exc
    if not any(result.built for result in results):
        return  # all current: stay quiet (scripts/ensure-services.sh runs this every time)
    table = Table("image", "reference", "size", "build time")
    for result in results:
        took = f"{result.seconds:.0f} s" if result.built else "current"
        table.add_row(result.name, result.reference, _human(result.size), took)
    console.print(table)
    console.print(f"runtime images ready in {time.monotonic() - started:.0f} s")
