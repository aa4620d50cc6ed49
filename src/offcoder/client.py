"""The terminal client: `offcoder login`, `logout`, `whoami`, `projects`, `push`, `pull`, `run`
and `jobs`, talking to a server's API.

Tokens are kept in `$OFFCODER_CONFIG_DIR/credentials.json` (default `~/.config/offcoder`), a
file only its owner can read (0600, in a 0700 directory). An expired access token is rotated
with the refresh token and the new pair saved; a refused refresh asks for `offcoder login`.
The last server signed in to is kept in `server.json` beside it (it outlives `logout`), so a
second `offcoder login` needs no `--server`.

This module is imported by every `offcoder` command, so it imports nothing of the server
(tests/cli/test_start_imports.py): the API's shapes are read as JSON.

`login` is the native-app flow of RFC 8252: a one-shot HTTP listener on a loopback port receives
the one-time code, PKCE binds it to this process. `login --device` is the device authorization
grant of RFC 8628, for a machine with no browser of its own (over SSH): it shows a code to enter
at the server's /console/device from any signed-in browser, a phone's included, and polls until
the code is approved. `run` follows the job's output with the
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
import time
import uuid
import webbrowser
from collections.abc import Mapping
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Annotated, Any, NoReturn
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from offcoder.auth.pkce import pkce_challenge

projects_app = typer.Typer(help="Your projects: list, create.", no_args_is_help=True)
jobs_app = typer.Typer(help="Your jobs: list, logs, cancel.", no_args_is_help=True)
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
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

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


def remembered_server() -> str | None:
    """The server of the last `offcoder login`, if any."""
    try:
        server = json.loads((config_dir() / "server.json").read_text())["server"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return server if isinstance(server, str) else None


def remember_server(server: str) -> None:
    (config_dir() / "server.json").write_text(json.dumps({"server": server}) + "\n")


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

    def end_session(self) -> bool:
        """`POST /v1/auth/logout`: did the server end this device session (or had it ended)?
        False when the server could not be reached or refused for another reason."""
        try:
            response = self._send("POST", "/v1/auth/logout")
            if response.status_code == 401 and self._refresh():
                response = self._send("POST", "/v1/auth/logout")
        except typer.Exit:  # out of reach, said on stderr
            return False
        return response.status_code in (204, 401)  # 401: it had ended already

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


def fail(response: httpx.Response) -> NoReturn:
    """Say what the API refused, with each field's reason for a 422, and exit 1."""
    errors: list[Any] = []
    try:
        body = response.json()
        message = body.get("detail") or body.get("title") or response.text
        errors = body.get("errors") or []
    except (ValueError, AttributeError):
        message = response.text
    err.print(f"[red]{response.status_code}:[/] {escape(str(message))}")
    for sentence in field_sentences(errors):
        print(f"  {sentence}", file=sys.stderr, flush=True)  # plain: no markup, no wrapping
    raise typer.Exit(1)


WHERE = {"body": "", "query": "the parameter ", "path": "the address's ", "header": "the header "}


def field_sentences(errors: list[Any]) -> list[str]:
    """A problem's `errors` (`loc`, `msg`, `type`: docs/api.md) as sentences a person reads,
    e.g. `ports: port 22 is not one of [3000, ...]` or `the parameter wait_s: Input should be
    less than or equal to 30`."""
    sentences = []
    for error in errors:
        if not isinstance(error, dict):
            continue
        loc = [str(part) for part in error.get("loc") or []]
        where = WHERE.get(loc[0], "") if loc else ""
        field = ".".join(loc[1:] if loc and loc[0] in WHERE else loc)
        message = str(error.get("msg") or error.get("type") or "is not valid")
        message = message.removeprefix("Value error, ")
        sentences.append(f"{where}{field}: {message}" if field else message)
    return sentences


def all_pages(api: Api, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a listing, page after page."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = api.json("GET", path, params={"limit": 200, **params} | _cursor(cursor))
        items.extend(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return items


def _cursor(cursor: str | None) -> dict[str, str]:
    return {"cursor": cursor} if cursor else {}


def find_project(api: Api, ref: str) -> dict[str, Any]:
    """A project by id, slug or exact name; when the name (or a slug and another's name) fits
    more than one, say which and exit 1 rather than pick one."""
    projects = all_pages(api, "/v1/projects")
    for project in projects:
        if project["id"] == ref:
            return project
    matches = [p for p in projects if ref in (p.get("slug"), p["name"])]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        err.print(f"[red]No project {escape(repr(ref))}.[/] See [bold]offcoder projects list[/].")
        raise typer.Exit(1)
    print(f"offcoder: {len(matches)} projects match {ref!r}:", file=sys.stderr)
    for project in matches:
        print(f"  {project['name']}  {project.get('slug', '')}  {project['id']}", file=sys.stderr)
    print("Name one by its slug or id.", file=sys.stderr, flush=True)
    raise typer.Exit(1)


# ------------------------------------------------------------------ login


def login(
    server: Annotated[
        str | None,
        typer.Option(help="The OffCoder server, e.g. https://api.example (default: the last one)."),
    ] = None,
    provider: Annotated[
        str | None, typer.Option(help="Sign-in provider (default: the first).")
    ] = None,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Print the sign-in address instead of opening it.")
    ] = False,
    device_name: Annotated[str, typer.Option(help="Name of this device session.")] = "terminal",
    device: Annotated[
        bool,
        typer.Option(
            "--device",
            help="Sign in from another device's browser (a phone): enter the code shown here "
            "at the server's /console/device. For machines without a browser, e.g. over SSH.",
        ),
    ] = False,
) -> None:
    """Sign in through the browser; the tokens are kept in your config directory (0600)."""
    server = server or remembered_server()
    if not server:
        err.print("[red]Which server?[/] Run [bold]offcoder login --server URL[/].")
        raise typer.Exit(2)
    server = server.rstrip("/")
    host = urlsplit(server).hostname or ""
    if server.startswith("http://") and host not in ("127.0.0.1", "localhost", "::1"):
        err.print("[yellow]Warning: plain http to a remote server sends your tokens in clear.[/]")
    if device:
        login_with_device(server, device_name)
        return
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
    if no_local_browser():
        err.print(
            "No browser on this machine? Run [bold]offcoder login --device[/] and sign in "
            "from your phone instead.",
            highlight=False,
        )
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
    signed_in(server, issued.json())


def signed_in(server: str, tokens: dict[str, Any]) -> None:
    """Keep the tokens of a sign-in (either flow) and the server, and say where."""
    save_credentials(
        {
            "server": server,
            "access_token": tokens["access_token"],
            "refresh_token": tokens["refresh_token"],
            "session_id": tokens["session_id"],
        }
    )
    remember_server(server)
    err.print(f"Signed in to {server}; credentials in {credentials_path()}")


def no_local_browser() -> bool:
    """Whether the loopback sign-in likely cannot work here: a session over SSH (the browser
    that opens the address is on another machine, whose 127.0.0.1 is not ours), or a Linux or
    BSD machine with no display and no BROWSER to open the address with."""
    if os.environ.get("SSH_CONNECTION") or os.environ.get("SSH_TTY"):
        return True
    if sys.platform in ("darwin", "win32") or os.environ.get("BROWSER"):
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def login_with_device(server: str, device_name: str) -> None:
    """RFC 8628: ask for a code, show it, poll the token endpoint at the interval the server
    gives (5 seconds more after each `slow_down`) until the code is approved, denied or
    expired. Ctrl-C stops waiting (the code then expires unused)."""
    with httpx.Client(base_url=server, timeout=30) as http:
        try:
            asked = http.post("/v1/auth/device/code", data={"device_name": device_name})
        except httpx.TransportError as exc:
            err.print(f"[red]Cannot reach {server}:[/] {exc}")
            raise typer.Exit(3) from exc
        if asked.status_code != 200:
            fail(asked)
        codes = asked.json()
        try:
            polled = _wait_for_approval(http, codes)
        except KeyboardInterrupt:
            err.print("Stopped waiting; not signed in (the code expires unused).")
            raise typer.Exit(130) from None
    signed_in(server, polled.json())


def _wait_for_approval(http: httpx.Client, codes: dict[str, Any]) -> httpx.Response:
    """Show the codes, then poll until the token endpoint answers 200 (returned); a denial,
    an expiry or another refusal ends the command."""
    print(
        f"To sign in, open {codes['verification_uri']} in any browser (your phone will do)"
        f" and enter the code:\n\n    {codes['user_code']}\n\n"
        "Or open this address, which carries the code:\n"
        f"{codes['verification_uri_complete']}\n",
        flush=True,
    )
    err.print("Waiting for the code to be approved (Ctrl-C stops)...")
    interval = max(1, int(codes.get("interval") or 5))
    deadline = time.monotonic() + int(codes.get("expires_in") or 600)
    grant = {"grant_type": DEVICE_GRANT, "device_code": codes["device_code"]}
    while True:
        time.sleep(interval)
        try:
            polled = http.post("/v1/auth/token", data=grant)
        except httpx.TransportError as exc:
            # A network hiccup while waiting: try again at the next interval.
            if time.monotonic() > deadline:
                err.print(f"[red]Cannot reach {http.base_url}:[/] {exc}")
                raise typer.Exit(3) from exc
            continue
        if polled.status_code == 200:
            return polled
        error = _oauth_error(polled)
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            # RFC 8628 section 3.5: 5 s more for this and every later poll (or what the server
            # says it now expects, if more).
            interval = max(interval + 5, _told_interval(polled))
            continue
        if error == "access_denied":
            err.print("[red]The sign-in was denied[/] in the browser; nothing was saved.")
            raise typer.Exit(1)
        if error == "expired_token":
            err.print("[red]The code expired[/] before it was approved; run this again.")
            raise typer.Exit(1)
        fail(polled)


def _told_interval(response: httpx.Response) -> int:
    """The `interval` a slow_down refusal carries (this server's addition), else 0."""
    try:
        told = response.json().get("interval")
    except (ValueError, AttributeError):
        return 0
    return told if type(told) is int else 0


def _oauth_error(response: httpx.Response) -> str | None:
    """The RFC 6749 `error` member of a token endpoint refusal, if it has one."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return None
    return error if isinstance(error, str) else None


def logout() -> None:
    """End this device session on the server and delete the tokens kept here."""
    if not credentials_path().exists():
        err.print("Not signed in.")
        return
    credentials = load_credentials()
    server = credentials.get("server", "the server")
    ended = Api().end_session()
    credentials_path().unlink(missing_ok=True)
    if ended:
        err.print(f"Signed out of {server}; the tokens here are deleted.")
        return
    err.print(
        f"[yellow]The tokens here are deleted, but {server} did not confirm the session's end[/]"
        " (it ends by itself when it expires; or end it from another device)."
    )
    raise typer.Exit(3)


def whoami() -> None:
    """Who you are signed in as, and where."""
    api = Api()
    me = api.json("GET", "/v1/me")
    out.print(f"handle:  {me.get('handle') or '(none yet)'}", highlight=False)
    out.print(f"name:    {me.get('display_name') or '(none)'}", highlight=False)
    if me.get("email"):
        out.print(f"e-mail:  {me['email']}", highlight=False)
    out.print(f"server:  {api.credentials['server']}", highlight=False)


# ------------------------------------------------------------------ projects


@projects_app.command("list")
def projects_list() -> None:
    """Your projects."""
    table = Table("name", "slug", "id")
    for project in all_pages(Api(), "/v1/projects"):
        table.add_row(escape(project["name"]), project.get("slug", ""), project["id"])
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


def pull(
    project: Annotated[str, typer.Argument(help="Project id, slug or name.")],
    directory: Annotated[Path, typer.Argument(file_okay=False, dir_okay=True)],
) -> None:
    """Download every file of PROJECT into DIRECTORY (same relative paths; files of the same
    path there are replaced, others left alone)."""
    api = Api()
    target = find_project(api, project)
    listed = all_pages(api, f"/v1/projects/{target['id']}/files")
    root = directory.resolve()
    for item in listed:
        # The server keeps paths relative and clean; a path that would leave DIRECTORY anyway
        # is refused, not written.
        destination = (root / item["path"]).resolve()
        if not destination.is_relative_to(root) or destination == root:
            err.print(f"[red]Skipped {escape(item['path'])}:[/] not a path inside {directory}")
            raise typer.Exit(1)
        response = api.request(
            "GET", f"/v1/projects/{target['id']}/files/{quote(item['path'], safe='/')}"
        )
        if response.status_code >= 400:
            fail(response)
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(response.content)
    err.print(f"{len(listed)} files of {target['name']} written to {directory}")


class Network(StrEnum):
    none = "none"
    egress = "egress"
    preview = "preview"


def run(
    project: Annotated[str, typer.Argument(help="Project id, slug or name.")],
    command: Annotated[list[str], typer.Argument(help="The command, after --.")],
    image: Annotated[str, typer.Option(help="Runtime image.")] = "python",
    timeout: Annotated[int, typer.Option(help="Seconds before the job is stopped.")] = 60,
    network: Annotated[
        Network,
        typer.Option(help="none; egress (reach the internet); preview (serve --port on the web)."),
    ] = Network.none,
    port: Annotated[
        list[int] | None,
        typer.Option("--port", help="A port the program serves, for --network preview."),
    ] = None,
) -> None:
    """Run COMMAND in PROJECT's sandbox, print its output live, exit with a status saying how
    the job ended. Ctrl-C cancels the job. With --network preview, the preview's address is
    printed (on stderr) once the job runs.

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
        json={
            "command": command,
            "image": image,
            "timeout_s": timeout,
            "network": network.value,
            "ports": port or [],
        },
    )
    follow_to_the_end(api, uuid.UUID(job["id"]), watch_preview=network is Network.preview)


def follow_to_the_end(api: Api, job_id: uuid.UUID, *, watch_preview: bool = False) -> NoReturn:
    """Print the job's output live, then its ending; exit with `exit_status_for` it. Ctrl-C
    cancels the job."""
    try:
        status = follow(api, job_id, watch_preview=watch_preview)
    except KeyboardInterrupt:
        err.print("\n[yellow]Cancelling the job…[/]")
        api.request("POST", f"/v1/jobs/{job_id}/cancel")
        raise typer.Exit(130) from None
    message = ending_message(status)
    if message is not None:
        print(message, file=sys.stderr, flush=True)  # plain: no markup, no wrapping
    raise typer.Exit(exit_status_for(status))


def follow(api: Api, job_id: uuid.UUID, *, watch_preview: bool = False) -> dict[str, Any]:
    after = 0
    # Until the preview's address is told, log waits are short so the job's start is seen
    # soon even when the program prints nothing.
    preview_told = not watch_preview
    while True:
        wait_s = 25 if preview_told else 1
        page = api.json(
            "GET", f"/v1/jobs/{job_id}/logs", params={"after_seq": after, "wait_s": wait_s}
        )
        for chunk in page["chunks"]:
            stream = sys.stdout if chunk["stream"] == "stdout" else sys.stderr
            stream.write(chunk["data"])
            stream.flush()
            after = chunk["seq"]
        if not preview_told:
            job: dict[str, Any] = api.json("GET", f"/v1/jobs/{job_id}")
            if job["status"] == "running" and job.get("preview_url"):
                print(f"offcoder: preview at {job['preview_url']}", file=sys.stderr, flush=True)
                preview_told = True
            elif job["status"] in ENDED:
                preview_told = True
        if page["done"]:
            job = api.json("GET", f"/v1/jobs/{job_id}")
            if job["status"] in ENDED:
                return job


# ------------------------------------------------------------------ jobs


@jobs_app.command("list")
def jobs_list(
    project: Annotated[
        str | None, typer.Argument(help="Project id, slug or name (default: every project).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="How many, newest first.")] = 20,
) -> None:
    """Your jobs, newest first: of PROJECT, or of every project."""
    api = Api()
    projects = [find_project(api, project)] if project else all_pages(api, "/v1/projects")
    names = {p["id"]: p["name"] for p in projects}
    jobs: list[dict[str, Any]] = []
    for each in projects:
        page = api.json("GET", f"/v1/projects/{each['id']}/jobs", params={"limit": limit})
        jobs.extend(page["items"])
    jobs.sort(key=lambda j: j["created_at"], reverse=True)
    table = Table("id", "project", "status", "reason", "exit", "created", "command")
    for job in jobs[:limit]:
        table.add_row(
            job["id"],
            escape(names.get(job["project_id"], job["project_id"])),
            job["status"],
            job.get("reason") or "",
            "" if job.get("exit_code") is None else str(job["exit_code"]),
            job["created_at"][:19].replace("T", " "),
            escape(" ".join(job["command"])),
        )
    out.print(table)


def job_id_of(ref: str) -> uuid.UUID:
    try:
        return uuid.UUID(ref)
    except ValueError:
        err.print(f"[red]{escape(ref)} is not a job id;[/] see [bold]offcoder jobs list[/].")
        raise typer.Exit(1) from None


@jobs_app.command("logs")
def jobs_logs(
    job: Annotated[str, typer.Argument(help="The job's id (offcoder jobs list).")],
    follow_: Annotated[
        bool,
        typer.Option(
            "--follow",
            "-f",
            help="Keep printing until the job ends, then exit as `offcoder run` does.",
        ),
    ] = False,
) -> None:
    """Print a job's output (stdout here, stderr on stderr)."""
    api = Api()
    job_id = job_id_of(job)
    if follow_:
        follow_to_the_end(api, job_id)
    after = 0
    while True:
        page = api.json("GET", f"/v1/jobs/{job_id}/logs", params={"after_seq": after})
        for chunk in page["chunks"]:
            stream = sys.stdout if chunk["stream"] == "stdout" else sys.stderr
            stream.write(chunk["data"])
            stream.flush()
            after = chunk["seq"]
        if not page["chunks"]:
            return


@jobs_app.command("cancel")
def jobs_cancel(job: Annotated[str, typer.Argument(help="The job's id.")]) -> None:
    """Stop a queued or running job (an ended one is refused: 409)."""
    api = Api()
    job_id = job_id_of(job)
    api.json("POST", f"/v1/jobs/{job_id}/cancel")
    err.print(f"Cancelling job {job_id}.")


def register(root: typer.Typer, *, panel: str) -> None:
    """Add the client's commands to the `offcoder` app, in help's `panel`."""
    for command in (login, logout, whoami, push):
        root.command(rich_help_panel=panel)(command)
    root.command(rich_help_panel=panel, short_help="Download a project's files into DIRECTORY.")(
        pull
    )
    root.command(
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        rich_help_panel=panel,
        short_help="Run a command in a project's sandbox; exit as the job ended.",
    )(run)
    root.add_typer(projects_app, name="projects", rich_help_panel=panel)
    root.add_typer(jobs_app, name="jobs", rich_help_panel=panel)
