"""The `offcoder` command: the terminal client (login, projects, push, run, jobs, ...) and the
operator's commands (serve, worker, migrate, keys, audit, ...).

A person typing `offcoder --help` or `offcoder projects list` must not wait for the server to
load (SQLAlchemy, FastAPI, the AI and payment SDKs: seconds), so this module imports only typer
and rich: the operator commands import what they need in their bodies, the operator sub-apps
(`keys`, `audit`, ...) are imported only when their command runs (`OperatorCommands`), and the
settings are read only by the commands that use them. tests/cli/test_start_imports.py holds it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from typer.core import TyperGroup

if TYPE_CHECKING:
    # typer carries its own copy of click (typer._click), which its groups are made of.
    from typer import _click as click

    from offcoder.config import Settings

OPERATOR = "Operator"
YOUR_CODE = "Your code"


# The operator's sub-apps, imported only when their command runs; `--help` lists them from
# their line alone. Each import is written out (not import_module) so the import contracts
# (tests/support/imports.py) still see who imports what.
def _keys() -> typer.Typer:
    from offcoder.crypto.cli import app

    return app


def _audit() -> typer.Typer:
    from offcoder.audit.cli import app

    return app


def _auth() -> typer.Typer:
    from offcoder.auth.cli import app

    return app


def _admin() -> typer.Typer:
    from offcoder.admin.cli import app

    return app


def _subprocessors() -> typer.Typer:
    from offcoder.incidents.cli import app

    return app


def _incidents() -> typer.Typer:
    from offcoder.incidents.cli import incidents_app

    return incidents_app


def _runtime() -> typer.Typer:
    from offcoder.runtime.build.cli import app

    return app


def _policies() -> typer.Typer:
    from offcoder.privacy.cli import app

    return app


def _dev() -> typer.Typer:
    from offcoder.dev.cli import app

    return app


OPERATOR_APPS: dict[str, tuple[Callable[[], typer.Typer], str]] = {
    "keys": (_keys, "Encryption keys: generate, rotate."),
    "audit": (_audit, "The audit log: verify, purge."),
    "auth": (_auth, "Sign-in: purge expired rows."),
    "admin": (_admin, "Admin roles: grant, revoke."),
    "subprocessors": (_subprocessors, "The published sub-processor list: list, add, remove."),
    "incidents": (_incidents, "The breach register: deadlines, send the queued e-mails."),
    "policies": (_policies, "Terms and privacy policy: publish a version."),
    "runtime": (_runtime, "Sandbox runtime: images."),
    "dev": (_dev, "Development conveniences."),
}


class OperatorCommands(TyperGroup):
    """The root group: the operator sub-apps of OPERATOR_APPS are listed from their one line of
    help and imported only when named on the command line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        # The person's commands first, the operator's after (help lists panels in this order).
        names = super().list_commands(ctx)
        yours = [n for n in names if getattr(self.commands[n], "rich_help_panel", "") == YOUR_CODE]
        return [*yours, *(n for n in names if n not in yours), *OPERATOR_APPS]

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        # Called only to run a command (help listings call get_command alone): the one named
        # here is the real one.
        if args and args[0] in OPERATOR_APPS:
            return args[0], _operator_app(args[0]), args[1:]
        return super().resolve_command(ctx, args)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in OPERATOR_APPS:
            return super().get_command(ctx, cmd_name)
        # Listed in help only: a stand-in carrying the name, the line and the panel.
        return TyperGroup(name=cmd_name, help=OPERATOR_APPS[cmd_name][1], rich_help_panel=OPERATOR)


def _operator_app(name: str) -> click.Command:
    load, line = OPERATOR_APPS[name]
    # A group even when the sub-app has one command (`auth purge`, `dev token`), as add_typer does.
    command = typer.main.get_group(load())
    command.name = name
    command.help = command.help or line
    return command


app = typer.Typer(
    cls=OperatorCommands,
    help="OffCoder: run your code in the cloud from a terminal (and serve it, for operators).",
    no_args_is_help=True,
)
console = Console(stderr=True)


def _settings(**overrides: object) -> Settings:
    from offcoder.config import get_settings

    base = get_settings()
    return base.model_copy(update={k: v for k, v in overrides.items() if v is not None})


def refuse_unsafe_production(settings: Settings, process: str = "api") -> None:
    problems = settings.production_problems(process)
    if problems:
        console.print("[bold red]Refusing to start in production:[/]")
        for problem in problems:
            console.print(f"  - {problem}")
        raise typer.Exit(2)


@app.command(rich_help_panel=OPERATOR)
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 8000).")] = None,
    dev: Annotated[
        bool, typer.Option("--dev", help="Start a local sign-in provider (development only).")
    ] = False,
    no_worker: Annotated[
        bool,
        typer.Option("--no-worker", help="Serve the API only; jobs are run by `offcoder worker`."),
    ] = False,
    tls_cert: Annotated[
        Path | None,
        typer.Option(
            "--tls-cert",
            help="Serve HTTPS with this PEM certificate chain (OFFCODER_TLS_CERT_FILE); "
            "re-read when it changes.",
        ),
    ] = None,
    tls_key: Annotated[
        Path | None,
        typer.Option("--tls-key", help="Its PEM private key (OFFCODER_TLS_KEY_FILE)."),
    ] = None,
    tls13_only: Annotated[
        bool | None,
        typer.Option("--tls13-only", help="Refuse TLS 1.2: TLS 1.3 only (OFFCODER_TLS13_ONLY)."),
    ] = None,
) -> None:
    """Serve the API (on the embedded PostgreSQL unless DATABASE_URL is set)."""
    from offcoder import logs
    from offcoder.config import get_settings
    from offcoder.db.bootstrap import prepare
    from offcoder.main import build_context, create_app
    from offcoder.web import serving, tls

    # SIGTERM ends the process by the normal road (finally blocks, atexit) rather than on the
    # spot: uvicorn handles it while serving, then raises it again once it has shut down, and
    # under the default action the process would die there, leaving its embedded PostgreSQL
    # running (a later start then finds its stale pids).
    _exit_on_sigterm()
    settings = _settings(
        host=host, port=port, tls_cert_file=tls_cert, tls_key_file=tls_key, tls13_only=tls13_only
    )
    scheme = "https" if settings.serves_tls else "http"
    served_url = _served_url(scheme, settings.host, settings.port)
    if "public_url" not in get_settings().model_fields_set:
        # Unset, the public URL (the token issuer, sign-in's callback) is where we serve: with
        # OFFCODER_PORT or --port elsewhere than 8000, sign-in must come back here.
        settings = settings.model_copy(update={"public_url": served_url})
    if dev:
        settings = settings.model_copy(update={"dev_identity_provider": True})
    refuse_unsafe_production(settings)
    logs.configure(json=settings.log_json)
    try:
        # Before the database is prepared: a wrong path or a key of another certificate stops
        # the start at once, with a sentence.
        certificate = tls.LiveCertificate.from_settings(settings)
    except tls.TlsSettingsError as error:
        console.print(f"[bold red]Refusing to start:[/] {error}")
        raise typer.Exit(2) from None
    for where, port, how in (
        (settings.host, settings.port, "--port or OFFCODER_PORT"),
        (settings.admin_host, settings.admin_listen_port, "OFFCODER_ADMIN_PORT"),
    ):
        taken = _address_taken(where, port)
        if taken is not None:
            # Before anything starts (the database, the sign-in provider): nothing is left
            # behind.
            typer.echo(
                f"Cannot start: {where}:{port} is already in use ({taken}); "
                f"stop what listens there or choose another port with {how}.",
                err=True,
            )
            raise typer.Exit(3)

    with contextlib.ExitStack() as running:
        # Whatever serve started ends with it, in reverse order, on every way out: a signal,
        # an error, a failed start.
        if dev:
            from offcoder.dev.identity import start_dev_provider, with_dev_provider

            manager, issuer = start_dev_provider()
            # Its thread is not a daemon: left running, the interpreter would wait for it
            # forever at exit and Ctrl-C would not stop the server.
            running.callback(_quietly_exit, manager)
            settings = with_dev_provider(settings, issuer)
            console.print(f"Development sign-in provider at {issuer}")
        if dev and not no_worker and not Path(settings.docker_proxy_socket).exists():
            proxy_socket = settings.state_dir / "docker-proxy.sock"
            proxy = _start_dev_proxy(proxy_socket, settings.state_dir / "docker-proxy")
            running.callback(_end_child, proxy)
            settings = settings.model_copy(update={"docker_proxy_socket": str(proxy_socket)})
        prepared = prepare(settings)
        running.callback(prepared.close)
        application = create_app(build_context(settings, prepared), with_worker=not no_worker)
        if no_worker:
            console.print("API only (--no-worker): jobs are run by `offcoder worker`.")
        console.print(f"OffCoder listening on {served_url}", highlight=False)
        console.print(f"Open the console: {served_url}/console", highlight=False)
        server = serving.Server(
            serving.uvicorn_config(application, settings, certificate=certificate),
            certificate=certificate,
            reload_interval_s=settings.tls_reload_interval_s,
        )
        # The admin dashboard: its own app on its own address (loopback unless
        # OFFCODER_ADMIN_HOST names an internal one), never on the public port.
        from offcoder.admin.dashboard.app import create_admin_app

        admin_app = create_admin_app(application.state.context)
        server.companions.append(
            serving.Companion(serving.admin_uvicorn_config(admin_app, settings))
        )
        console.print(f"Admin dashboard on {settings.admin_base_url}", highlight=False)
        with contextlib.suppress(KeyboardInterrupt):
            server.run()
    if not server.started:
        raise typer.Exit(3)  # as uvicorn.run: the address was taken, or the app did not start


def _exit_on_sigterm() -> None:
    import signal

    def leave(signum: int, _: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, leave)


def _served_url(scheme: str, host: str, port: int) -> str:
    """The URL a browser on this machine reaches the server at (a wildcard address is served
    on loopback too)."""
    if host in ("0.0.0.0", "", "::"):  # noqa: S104 - naming the wildcard, not binding it
        host = "127.0.0.1" if host != "::" else "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


def _address_taken(host: str, port: int) -> str | None:
    """Why `host:port` cannot be listened on, or None when it can (bound as uvicorn binds it,
    then released at once)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            return error.strerror or str(error)
    return None


def _quietly_exit(manager: contextlib.AbstractContextManager[object]) -> None:
    with contextlib.suppress(Exception):
        manager.__exit__(None, None, None)


def _end_child(child: subprocess.Popen[bytes]) -> None:
    """Children (the development Docker proxy) end with the server, never outlive it."""
    child.terminate()
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()


def _start_dev_proxy(socket_path: Path, state_dir: Path) -> subprocess.Popen[bytes]:
    """Development: run the Docker policy proxy as a child process (it needs root for loops).

    Its state (workspace images, the generated deployment id) goes in `state_dir`, in the
    server's own, unless OFFCODER_PROXY_STATE_DIR says otherwise: two development servers on
    one engine are two deployments, neither touching the other's sandboxes."""
    socket_path.unlink(missing_ok=True)
    child = subprocess.Popen(  # noqa: S603 - our own command
        [
            *(sys.executable, "-m", "offcoder.cli", "docker-proxy"),
            *("--socket", str(socket_path), "--parent-pid", str(os.getpid())),
        ],
        env={"OFFCODER_PROXY_STATE_DIR": str(state_dir), **os.environ},
    )
    for _ in range(100):
        if socket_path.exists():
            break
        time.sleep(0.1)
    console.print(f"Docker policy proxy at {socket_path}")
    return child


@app.command(rich_help_panel=OPERATOR)
def worker() -> None:
    """Run jobs from the queue (needs the Docker policy proxy, see `docker-proxy`)."""
    import asyncio
    import signal

    from offcoder import logs
    from offcoder.config import get_settings
    from offcoder.db.bootstrap import prepare
    from offcoder.worker.context import WorkerContext
    from offcoder.worker.host import WorkerHost

    settings = get_settings()
    refuse_unsafe_production(settings, "worker")
    logs.configure(json=settings.log_json)
    prepared = prepare(settings)
    # Only what a worker needs: no token signing key, no AI or payment clients.
    context = WorkerContext.build(settings, prepared)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await WorkerHost(context).run(stop)
        await context.close()

    asyncio.run(main())


@app.command(rich_help_panel=OPERATOR)
def migrate() -> None:
    """Create the database roles and apply every migration."""
    from offcoder.config import get_settings
    from offcoder.db.bootstrap import prepare

    prepared = prepare(get_settings())
    console.print(f"Database {prepared.admin_url.database} is at the latest migration.")


@app.command(rich_help_panel=OPERATOR, short_help="Serve previews alone, apart from the API.")
def edge(
    host: Annotated[str | None, typer.Option(help="Address to listen on (127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (8000).")] = None,
    tls_cert: Annotated[
        Path | None,
        typer.Option("--tls-cert", help="Serve HTTPS with this PEM certificate chain."),
    ] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="Its PEM private key.")] = None,
) -> None:
    """Serve previews alone (C7), for deployments that scale them apart from the API: requests
    for hosts under OFFCODER_PREVIEW_DOMAIN go to their running preview job's port. Browsers
    enter through the API's console (OFFCODER_PUBLIC_URL); tokens in a header are taken only by
    `serve`, which holds the key that checks them."""
    from offcoder import logs
    from offcoder.db.bootstrap import prepare
    from offcoder.previews.edge import PreviewEdge, PreviewHosts, not_a_preview_host
    from offcoder.web import serving, tls
    from offcoder.web.transport import ForwardedHeadersMiddleware, TrustedProxies
    from offcoder.worker.context import WorkerContext

    settings = _settings(host=host, port=port, tls_cert_file=tls_cert, tls_key_file=tls_key)
    logs.configure(json=settings.log_json)
    try:
        certificate = tls.LiveCertificate.from_settings(settings)
    except tls.TlsSettingsError as error:
        console.print(f"[bold red]Refusing to start:[/] {error}")
        raise typer.Exit(2) from None
    prepared = prepare(settings)
    # SIGTERM ends the process normally, so the embedded PostgreSQL is stopped behind it.
    _exit_on_sigterm()
    context = WorkerContext.build(settings, prepared)
    previews = PreviewHosts(not_a_preview_host, PreviewEdge(settings, context.database))
    served = ForwardedHeadersMiddleware(previews, trusted=TrustedProxies(settings.trusted_proxies))
    scheme = "https" if settings.serves_tls else "http"
    console.print(
        f"OffCoder preview edge for *.{settings.preview_domain} on "
        f"{scheme}://{settings.host}:{settings.port}"
    )
    server = serving.Server(
        serving.uvicorn_config(served, settings, certificate=certificate, lifespan="off"),
        certificate=certificate,
        reload_interval_s=settings.tls_reload_interval_s,
    )
    try:
        with contextlib.suppress(KeyboardInterrupt):
            server.run()
    finally:
        prepared.close()
    if not server.started:
        raise typer.Exit(3)


@app.command(rich_help_panel=OPERATOR)
def doctor() -> None:
    """Check this deployment's sandbox runtime: the proxy, and the runtimes jobs run under."""
    from offcoder.config import get_settings
    from offcoder.runtime.doctor import runtime_findings

    findings = runtime_findings(get_settings())
    for finding in findings:
        mark = "[green]ok[/]     " if finding.ok else "[bold red]problem[/]"
        console.print(f"{mark} {finding.sentence}", highlight=False)
    if not all(f.ok for f in findings):
        raise typer.Exit(1)


@app.command("docker-proxy", rich_help_panel=OPERATOR)
def docker_proxy(
    socket: Annotated[
        str, typer.Option(help="Unix socket the proxy listens on.")
    ] = "/run/offcoder/docker.sock",
    upstream: Annotated[
        str, typer.Option(help="The Docker engine's unix socket.")
    ] = "/var/run/docker.sock",
    parent_pid: Annotated[
        int | None,
        typer.Option(hidden=True, help="Stop when this process is gone (serve --dev's child)."),
    ] = None,
) -> None:
    """Serve the policy-enforcing Docker proxy (C2): the only way the server reaches Docker."""
    from offcoder.runtime.proxy.server import (
        DeploymentIdError,
        MaxCpusError,
        RuntimesError,
        run_proxy,
    )

    if parent_pid is not None:
        _exit_with_parent(parent_pid)
    try:
        run_proxy(socket, upstream)
    except DeploymentIdError as exc:
        console.print(f"Cannot start the Docker proxy: {exc} (OFFCODER_PROXY_DEPLOYMENT_ID).")
        raise typer.Exit(2) from exc
    except (MaxCpusError, RuntimesError) as exc:
        console.print(f"Cannot start the Docker proxy: {exc}.")
        raise typer.Exit(2) from exc


def _exit_with_parent(parent_pid: int) -> None:
    """A child of `serve --dev` must not outlive it, even when the server is killed outright
    (SIGKILL leaves it no chance to stop its children): once reparented, stop as on SIGTERM."""
    import signal
    import threading

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True).start()


def _register() -> None:
    from offcoder import client
    from offcoder.jobs.cli import purge

    client.register(app, panel=YOUR_CODE)
    # `offcoder jobs purge` is the operator's, in the same group as the user's `jobs list`:
    # its module imports only typer (the purge's own imports are in its body).
    client.jobs_app.command("purge", rich_help_panel=OPERATOR)(purge)


_register()


def main() -> None:  # pragma: no cover - console entry point
    try:
        app()
    except Exception as exc:
        # Settings are read only by the commands that need them, so pydantic is loaded when
        # this can be their refusal (and not imported for the others).
        if "pydantic" not in sys.modules:
            raise
        from pydantic import ValidationError

        from offcoder.config import refused_settings

        if not isinstance(exc, ValidationError) or exc.title != "Settings":
            raise
        # A limit out of range or a value of the wrong kind: say which, before anything starts.
        typer.echo("Refusing to start: these settings are not valid:", err=True)
        for sentence in refused_settings(exc):
            typer.echo(f"  - {sentence}", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":  # pragma: no cover
    main()
