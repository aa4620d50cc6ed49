"""The terminal client: `offcoder login`, `projects`, `push`, `run`, talking to a server's API.

Tokens are kept in `$OFFCODER_CONFIG_DIR/credentials.json` (default `~/.config/offcoder`), a
file only its owner can read (0600, in a 0700 directory). An expired access token is rotated
with the refresh token and the new pair saved; a refused refresh asks for `offcoder login`.

`login` is the native-app flow of RFC 8252: a one-shot HTTP listener on a loopback port receives
the one-time code, PKCE binds it to this process. `run` follows the job's output with the
long-polling log endpoint and exits with a status saying how the job ended (`exit_status_for`:
never 0 unless the job succeeded); Ctrl-C cancels the job.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
import tempfile
import threading
import uuid
import webbrowser
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from offcoder.auth.pkce import pkce_challenge

projects_app = typer.Typer(help="Your projects: list, create.", no_args_is_help=True)
err = Console(stderr=True)
out = Console()

ENDED = {"succeeded", "failed", "timed_out", "cancelled"}
SKIPPED_DIRS = {
    ".git",
    ".hg",
    ".svn",
    "__pycache__",
    "node_modules",
    ".venv",
    "venv",
    ".mypy_cache",
}
LOGIN_TIMEOUT_S = 300

# The endings that are not the job's doing: the server's own faults and a sandbox removed from
# outside (the endings `jobs.outcome.EndReason` does not charge, not imported: it would slow every
# command down; a test keeps the two equal).
OUR_FAULT_REASONS = frozenset(
    {
        "sandbox_lost",
        "internal_error",
        "runtime_unavailable",
        "worker_stopped",
        "not_started",
        "worker_lost",
        "log_storage_failed",
    }
)
EXIT_TIMED_OUT = 124
EXIT_OUR_FAULT = 125
EXIT_COMMAND_NOT_FOUND = 127
EXIT_CANCELLED = 130


def exit_status_for(job: Mapping[str, Any]) -> int:
    """`offcoder run`'s exit status for an ended job (`status`, `exit_code`, `reason` as
    `GET /v1/jobs/{id}` gives them). The first row that applies:

    ========================================  =====================================
    the job                                   exit status
    ========================================  =====================================
    status `succeeded`                        0
    status `timed_out`                        124 (as timeout(1))
    status `cancelled`                        130 (as after Ctrl-C)
    reason one of OUR_FAULT_REASONS           125 (not the job: the server, or its host)
    reason `command_not_found`                127 (as a shell)
    exit code 1-255                           that exit code (e.g. 126, 137)
    anything else                             1
    ========================================  =====================================

    So a job that did not succeed never exits 0: e.g. `output_limit` with exit code 0 is 1.
    docs/api.md ("CLI exit codes") and `offcoder run --help` give the same table.
    """
    status = job.get("status")
    reason = job.get("reason")
    code = job.get("exit_code")
    if status == "succeeded":
        return 0
    if status == "timed_out":
        return EXIT_TIMED_OUT
    if status == "cancelled":
        return EXIT_CANCELLED
    if reason in OUR_FAULT_REASONS:
        return EXIT_OUR_FAULT
    if reason == "command_not_found":
        return EXIT_COMMAND_NOT_FOUND
    if type(code) is int and 0 < code < 256:  # what a process can exit with (256 is 0)
        return code
    return 1


def ending_message(job: Mapping[str, Any]) -> str | None:
    """How a job that did not succeed ended, in one line for stderr, e.g.
    `offcoder: job failed (output_limit): output passed 4194304 bytes`; None when it succeeded."""
    status = job.get("status")
    if status == "succeeded":
        return None
    reason, detail = job.get("reason"), job.get("detail")
    message = f"offcoder: job {status}"
    if reason and reason != status:
        message += f" ({reason})"
    if detail:
        message += f": {detail}"
    return message


def config_dir() -> Path:
    configured = os.environ.get("OFFCODER_CONFIG_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "offcoder"


def credentials_path() -> Path:
    return config_dir() / "credentials.json"


def save_credentials(data: dict[str, Any]) -> None:
    directory = config_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)  # also when it existed with a looser mode
    # mkstemp: a fresh file created 0600 from the first byte (no window in which another user
    # could read it, no file of someone else's reused), then renamed over the old one.
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".credentials-")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)
        os.replace(temporary, credentials_path())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def load_credentials() -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(credentials_path().read_text())
    except (OSError, ValueError) as exc:
        err.print("[red]Not signed in.[/] Run [bold]offcoder login --server URL[/] first.")
        raise typer.Exit(2) from exc
    return data


class Api:
    """The API with this user's tokens, rotating them when the access token has expired."""

    def __init__(self) -> None:
        self.credentials = load_credentials()
        self.http = httpx.Client(base_url=self.credentials["server"], timeout=60)

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        response = self._send(method, path, **kw)
        if response.status_code == 401 and self._refresh():
            response = self._send(method, path, **kw)
        if response.status_code == 401:
            err.print("[red]Your session has ended.[/] Run [bold]offcoder login[/] again.")
            raise typer.Exit(2)
        return response

    def json(self, method: str, path: str, **kw: Any) -> Any:
        response = self.request(method, path, **kw)
        if response.status_code >= 400:
            fail(response)
        return response.json()

    def _send(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {self.credentials['access_token']}"}
        try:
            return self.http.request(method, path, headers=headers, **kw)
        except httpx.TransportError as exc:
            err.print(f"[red]Cannot reach {self.credentials['server']}:[/] {exc}")
            raise typer.Exit(3) from exc

    def _refresh(self) -> bool:
        response = self.http.post(
            "/v1/auth/token",
            json={
                "grant_type": "refresh_token",
                "refresh_token": self.credentials["refresh_token"],
            },
        )
        if response.status_code != 200:
            return False
        self.credentials |= {
            k: response.json()[k] for k in ("access_token", "refresh_token", "session_id")
        }
        save_credentials(self.credentials)
        return True


def fail(response: httpx.Response) -> None:
    try:
        body = response.json()
        message = body.get("detail") or body.get("title") or response.text
    except ValueError:
        message = response.text
    err.print(f"[red]{response.status_code}:[/] {escape(str(message))}")
    raise typer.Exit(1)


def find_project(api: Api, ref: str) -> dict[str, Any]:
    """A project by id, slug or exact name."""
    cursor: str | None = None
    while True:
        params = {"limit": 100} | ({"cursor": cursor} if cursor else {})
        page = api.json("GET", "/v1/projects", params=params)
        for project in page["items"]:
            if ref in (project["id"], project.get("slug"), project["name"]):
                return project  # type: ignore[no-any-return]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    err.print(f"[red]No project {ref!r}.[/] See [bold]offcoder projects list[/].")
    raise typer.Exit(1)


# ------------------------------------------------------------------ login


def login(
    server: Annotated[str, typer.Option(help="The OffCoder server, e.g. https://api.example")],
    provider: Annotated[
        str | None, typer.Option(help="Sign-in provider (default: the first).")
    ] = None,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Print the sign-in address instead of opening it.")
    ] = False,
    device_name: Annotated[str, typer.Option(help="Name of this device session.")] = "terminal",
) -> None:
    """Sign in through the browser; the tokens are kept in your config directory (0600)."""
    server = server.rstrip("/")
    host = urlsplit(server).hostname or ""
    if server.startswith("http://") and host not in ("127.0.0.1", "localhost", "::1"):
        err.print("[yellow]Warning: plain http to a remote server sends your tokens in clear.[/]")
    with httpx.Client(base_url=server, timeout=30) as http:
        try:
            listed = http.get("/v1/auth/providers").json()["items"]
        except (httpx.TransportError, ValueError, KeyError) as exc:
            err.print(f"[red]{server} does not answer as an OffCoder server:[/] {exc}")
            raise typer.Exit(3) from exc
    names = [p["name"] for p in listed]
    if not names:
        err.print("[red]That server has no sign-in provider enabled.[/]")
        raise typer.Exit(1)
    chosen = provider or names[0]
    if chosen not in names:
        err.print(f"[red]Unknown provider {chosen!r};[/] the server offers: {', '.join(names)}")
        raise typer.Exit(1)

    received: dict[str, str] = {}
    done = threading.Event()

    class Callback(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if done.is_set():  # only the first answer counts
                self.send_error(409)
                return
            if url.path != "/offcoder-cli/callback":
                self.send_error(404)
                return
            received.update({k: v[0] for k, v in parse_qs(url.query).items()})
            body = b"Signed in to OffCoder: you can close this tab and go back to the terminal.\n"
            if "code" not in received:
                body = b"Sign-in did not finish: see the terminal.\n"
            self.send_response(200)
            self.send_header("content-type", "text/plain; charset=utf-8")
            self.end_headers()
            self.wfile.write(body)
            done.set()

        def log_message(self, *_: Any) -> None:  # keep the terminal for the user
            return

    listener = HTTPServer(("127.0.0.1", 0), Callback)
    port = listener.server_address[1]
    threading.Thread(target=listener.serve_forever, daemon=True).start()
    verifier = secrets.token_urlsafe(48)
    state = secrets.token_urlsafe(16)
    challenge = pkce_challenge(verifier)
    redirect_uri = f"http://127.0.0.1:{port}/offcoder-cli/callback"
    query = urlencode(
        {
            "redirect_uri": redirect_uri,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "device_name": device_name,
        }
    )
    url = f"{server}/v1/auth/{chosen}/authorize?{query}"
    print(f"Open this address to sign in:\n{url}", flush=True)
    if not no_browser:
        with contextlib.suppress(Exception):
            webbrowser.open(url)
    try:
        if not done.wait(LOGIN_TIMEOUT_S):
            err.print("[red]No sign-in arrived within 5 minutes.[/]")
            raise typer.Exit(1)
    finally:
        listener.shutdown()
    if received.get("state") != state or "code" not in received:
        err.print(f"[red]Sign-in failed:[/] {received.get('error', 'state mismatch')}")
        raise typer.Exit(1)
    with httpx.Client(base_url=server, timeout=30) as http:
        issued = http.post(
            "/v1/auth/token",
            json={
                "grant_type": "authorization_code",
                "code": received["code"],
                "code_verifier": verifier,
            },
        )
    if issued.status_code != 200:
        fail(issued)
    tokens = issued.json()
    save_credentials(
        {
            "server": server,
            "access_token": tokens["access_token"],
            "refresh_token": tokens["refresh_token"],
            "session_id": tokens["session_id"],
        }
    )
    err.print(f"Signed in to {server}; credentials in {credentials_path()}")


# ------------------------------------------------------------------ projects


@projects_app.command("list")
def projects_list() -> None:
    """Your projects."""
    api = Api()
    table = Table("name", "slug", "id")
    cursor: str | None = None
    while True:
        params = {"limit": 100} | ({"cursor": cursor} if cursor else {})
        page = api.json("GET", "/v1/projects", params=params)
        for project in page["items"]:
            table.add_row(project["name"], project.get("slug", ""), project["id"])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    out.print(table)


@projects_app.command("create")
def projects_create(name: str) -> None:
    """Create a project."""
    project = Api().json("POST", "/v1/projects", json={"name": name})
    out.print(f"{project['name']}  {project.get('slug', '')}  {project['id']}")


# ------------------------------------------------------------------ push and run


def files_under(directory: Path) -> list[Path]:
    found = []
    for root, dirs, names in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        for name in sorted(names):
            path = Path(root) / name
            if path.is_file() and not path.is_symlink():
                found.append(path)
    return found


def push(
    directory: Annotated[Path, typer.Argument(exists=True, file_okay=False, dir_okay=True)],
    project: Annotated[str, typer.Argument(help="Project id, slug or name.")],
) -> None:
    """Upload every file under DIRECTORY into PROJECT (same relative paths)."""
    api = Api()
    target = find_project(api, project)
    paths = files_under(directory)
    if not paths:
        err.print(f"[yellow]Nothing to upload in {directory}.[/]")
        raise typer.Exit(1)
    total = sum(p.stat().st_size for p in paths)
    failures = 0
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} B"),
        console=err,
    ) as progress:
        task = progress.add_task("uploading", total=total)
        for path in paths:
            relative = path.relative_to(directory).as_posix()
            progress.update(task, description=relative)
            response = api.request(
                "PUT",
                f"/v1/projects/{target['id']}/files/{quote(relative, safe='/')}",
                content=path.read_bytes(),
            )
            if response.status_code >= 400:
                failures += 1
                progress.console.print(
                    f"[red]{escape(relative)}: {response.status_code}[/] {escape(response.text)}"
                )
            progress.advance(task, path.stat().st_size)
    err.print(f"{len(paths) - failures} of {len(paths)} files uploaded to {target['name']}")
    if failures:
        raise typer.Exit(1)


def run(
    project: Annotated[str, typer.Argument(help="Project id, slug or name.")],
    command: Annotated[list[str], typer.Argument(help="The command, after --.")],
    image: Annotated[str, typer.Option(help="Runtime image.")] = "python",
    timeout: Annotated[int, typer.Option(help="Seconds before the job is stopped.")] = 60,
) -> None:
    """Run COMMAND in PROJECT's sandbox, print its output live, exit with a status saying how
    the job ended. Ctrl-C cancels the job.

    Exit status (the first that applies; a job that did not succeed never exits 0):
    0 the job succeeded;
    124 it timed out;
    130 it was cancelled (Ctrl-C or elsewhere);
    125 it did not end by its own doing: the server failed to run it (internal_error,
    runtime_unavailable, worker_stopped, not_started, worker_lost, log_storage_failed) or its
    sandbox was removed from outside (sandbox_lost);
    127 the command was not found;
    the program's exit code when it is non-zero (e.g. 126 not executable, 137 killed);
    1 otherwise (e.g. output_limit with exit code 0).
    A job that did not succeed is also told on stderr: status, reason and detail.
    """
    api = Api()
    target = find_project(api, project)
    job = api.json(
        "POST",
        f"/v1/projects/{target['id']}/jobs",
        json={"command": command, "image": image, "timeout_s": timeout},
    )
    job_id = uuid.UUID(job["id"])
    try:
        status = follow(api, job_id)
    except KeyboardInterrupt:
        err.print("\n[yellow]Cancelling the job…[/]")
        api.request("POST", f"/v1/jobs/{job_id}/cancel")
        raise typer.Exit(130) from None
    message = ending_message(status)
    if message is not None:
        print(message, file=sys.stderr, flush=True)  # plain: no markup, no wrapping
    raise typer.Exit(exit_status_for(status))


def follow(api: Api, job_id: uuid.UUID) -> dict[str, Any]:
    after = 0
    while True:
        page = api.json("GET", f"/v1/jobs/{job_id}/logs", params={"after_seq": after, "wait_s": 25})
        for chunk in page["chunks"]:
            stream = sys.stdout if chunk["stream"] == "stdout" else sys.stderr
            stream.write(chunk["data"])
            stream.flush()
            after = chunk["seq"]
        if page["done"]:
            job: dict[str, Any] = api.json("GET", f"/v1/jobs/{job_id}")
            if job["status"] in ENDED:
                return job


def register(root: typer.Typer) -> None:
    root.command()(login)
    root.command()(push)
    root.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(run)
    root.add_typer(projects_app, name="projects", help="Your projects: list, create.")
