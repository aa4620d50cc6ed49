"""The policy-enforcing Docker proxy (C2): the only way the server and workers reach Docker.

It listens on a unix socket, parses each request with h11 (a strict HTTP/1.1 parser), and
forwards to the engine's unix socket only the few operations the runtime uses, rebuilt from what
it checked (canonical path, filtered query, filtered headers, re-serialised create body): what
dockerd receives is exactly what was checked. Everything else is answered 403 with a JSON
``{"message": ...}`` and logged. Allowed:

- ``GET|HEAD /_ping``, ``GET /version``, ``GET /images/{name}/json``
- ``POST /containers/create``: the body must pass `policy.check_create_body` (which requires
  this proxy's deployment label), a mounted workspace must be one this proxy provisioned for that
  job, and the image must declare no VOLUME.
- for containers labelled ``dev.offcoder.managed=1`` and with this proxy's deployment id in
  ``dev.offcoder.deployment`` only (looked up with the engine's inspect; any other container is
  answered 404, like an absent one):
  ``POST start|wait|kill|attach`` (attach as an upgraded, hijacked stream), ``GET logs|json``,
  ``PUT archive`` (only under /workspace, only while the container is still ``created``: C3),
  ``DELETE`` (and the job's workspace goes with it).
- ``GET /containers/json``, with the ``dev.offcoder.managed=1`` and deployment label filters
  always added.
- ``GET /offcoder/deployment``: this proxy's deployment id, which every object it makes or lets
  be made carries (``OFFCODER_PROXY_DEPLOYMENT_ID``, or generated once into its state directory).
- ``GET /offcoder/runtimes``: the sandbox runtimes this deployment allows (``Allowed``,
  ``OFFCODER_PROXY_RUNTIMES``) and the engine's runtimes (``Engine``, from its ``/info``), for
  ``offcoder doctor``; a create body must name an allowed one (`policy.check_create_body`).
- ``GET /offcoder/jobs``: the jobs that hold anything of this deployment (a container, a
  network, a workspace volume or image), for the reconciler to find what a dead worker left;
  not the install jobs of dependency layers, which outlive them by design.
- ``POST|DELETE /offcoder/workspaces/{job_id}``: this proxy's own per-job workspace endpoints.
- ``POST /offcoder/networks/{job_id}?mode=preview|egress``, ``DELETE`` the same: the job's own
  network, created by the proxy with fixed options (``network.py``) and walled off the host
  (``hostwall.py``); a create body may join it only while that wall stands.
- ``POST /offcoder/gateways/{job_id}`` with ``{"AllowHosts": [...], "ExtraPorts": [...]}``,
  ``DELETE`` the same: an egress job's filtering gateway container, created by the proxy with
  fixed hardened settings (``gateway.py``). Gateways are not reachable through the
  container routes above; removing the job's container removes its gateway first.
- ``POST /offcoder/layers/{job_id}`` with ``{"Project": ..., "Owner": ..., "SizeBytes": n}``,
  ``GET`` and ``DELETE`` the same: a project's dependency layer built
  by install job `job_id` (``layers.py``). A create body may mount one only as the policy says
  (writable for its builder alone) and only with the layer's own project and owner labels; a
  layer in use by a container is not removed (409).

Refused: volumes, networks, exec, build, swarm, services, nodes, secrets, configs, plugins,
system, events, image create/pull/push/delete, commit, archive GET/HEAD, export, update, rename,
pause, resize, changes, top, API versions below 1.40, any body where none is expected.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import signal
import stat
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote_to_bytes, urlencode

import h11
import structlog

from offcoder.runtime.catalogue import IMAGES
from offcoder.runtime.policy import (
    DEFAULT_LIMITS,
    LABEL_DEPLOYMENT,
    LABEL_JOB_ID,
    LABEL_LAYER,
    LABEL_MANAGED,
    LABEL_NETWORK,
    WORKSPACE,
    NetworkMode,
    SandboxLimits,
    SandboxRuntime,
    check_create_body,
    is_deployment_id,
    is_ours,
    job_network_name,
    layer_mount_source,
)
from offcoder.runtime.proxy.engine import EngineClient, EngineError, next_event
from offcoder.runtime.proxy.gateway import (
    DEFAULT_GATEWAY_IMAGE,
    LABEL_ROLE,
    GatewayError,
    Gateways,
)
from offcoder.runtime.proxy.gateway import (
    MAX_BODY as MAX_GATEWAY_BODY,
)
from offcoder.runtime.proxy.gateway import (
    parse_request as parse_gateway_request,
)
from offcoder.runtime.proxy.layers import MAX_BODY as MAX_LAYER_BODY
from offcoder.runtime.proxy.layers import LayerError, Layers
from offcoder.runtime.proxy.layers import parse_request as parse_layer_request
from offcoder.runtime.proxy.network import JobNetworks, NetworkError
from offcoder.runtime.proxy.workspace import LoopVolumes, VolumeInUse, WorkspaceError, Workspaces

log = structlog.get_logger(__name__)

MAX_HEAD_BYTES = 64 * 1024
MAX_CREATE_BODY = 1024 * 1024
MAX_ARCHIVE_BODY = 1024 * 1024 * 1024
HEAD_TIMEOUT_S = 60.0
OWNERSHIP_CACHE_S = 2.0
MIN_API_MINOR = 40
UPGRADE_GAP_S = 0.05
DEFAULT_STATE_DIR = "/var/lib/offcoder/workspaces"
DEPLOYMENT_FILE = "deployment-id"
MAX_CPUS = 64  # the highest OFFCODER_PROXY_MAX_CPUS: a sanity bound, not a policy

_VERSION = re.compile(r"v1\.([0-9]{1,3})")
_CONTAINER_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_IMAGE_REF = re.compile(r"[a-z0-9][a-z0-9._/:@-]{0,254}")
_CONTAINER_NAME = re.compile(r"/?[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_BOOL = re.compile(r"0|1|true|false|True|False")
_FORWARD_REQUEST_HEADERS = (b"content-type", b"user-agent", b"accept")
_DROP_RESPONSE_HEADERS = {b"connection", b"keep-alive", b"upgrade", b"te", b"trailer"}

# action -> (method, allowed query keys, request body kind, needs an upgrade)
_CONTAINER_ACTIONS: dict[str, tuple[str, frozenset[str], str, bool]] = {
    "start": ("POST", frozenset(), "none", False),
    "wait": ("POST", frozenset({"condition"}), "none", False),
    "kill": ("POST", frozenset({"signal"}), "none", False),
    "logs": (
        "GET",
        frozenset({"follow", "stdout", "stderr", "since", "until", "timestamps", "tail"}),
        "none",
        False,
    ),
    "attach": (
        "POST",
        frozenset({"stream", "stdin", "stdout", "stderr", "logs", "detachKeys"}),
        "none",
        True,
    ),
    "json": ("GET", frozenset({"size"}), "none", False),
    # Read-only resource usage of our own sandboxes: the worker meters CPU time and peak memory.
    "stats": ("GET", frozenset({"stream", "one-shot"}), "none", False),
    "archive": ("PUT", frozenset({"path", "noOverwriteDirNonDir", "copyUIDGID"}), "tar", False),
}


class Refused(Exception):
    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class Route:
    # plain | create | list | image | container | delete | ws-* | net-* | gw-* | deployment | jobs
    kind: str
    version: str = ""  # "/v1.41" or ""
    query: dict[str, str] = field(default_factory=dict)
    body: str = "none"  # none | json | tar
    upgrade: bool = False
    action: str = ""
    ref: str = ""
    path: str = ""


def normalize_target(target: str) -> tuple[list[str], str]:
    """Path segments (percent-decoded once, `//` collapsed) and the raw query; Refused if odd."""
    if "#" in target or not target.startswith("/"):
        raise Refused("malformed request target")
    raw_path, _, query = target.partition("?")
    try:
        path = unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused("malformed path encoding") from exc
    if "%" in path or "\\" in path or any(ord(c) < 0x21 or ord(c) == 0x7F for c in path):
        raise Refused("suspicious characters in path")
    segments = [s for s in path.split("/") if s]
    if any(s in (".", "..") for s in segments):
        raise Refused("dot segments are not allowed in paths")
    if ";" in query:
        raise Refused("';' is not a query separator")
    return segments, query


def _query(raw: str, allowed: frozenset[str]) -> dict[str, str]:
    pairs = parse_qsl(raw, keep_blank_values=True)
    out: dict[str, str] = {}
    for key, value in pairs:
        if key not in allowed:
            raise Refused(f"query parameter {key!r} is not allowed here")
        if key in out:
            raise Refused(f"query parameter {key!r} given twice")
        out[key] = value
    return out


# The proxy's own per-job objects under /offcoder/<kind>/<job id>: the refusal of an id that is
# not a job's UUID, and for each method the route's kind and body. None takes a query.
_JOB_OBJECTS: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {
    "layers": (
        "layer id must be an install job's UUID",
        {
            "POST": ("layer-provision", "json"),
            "GET": ("layer-describe", "none"),
            "DELETE": ("layer-teardown", "none"),
        },
    ),
    "workspaces": (
        "workspace id must be a job UUID",
        {"POST": ("ws-provision", "none"), "DELETE": ("ws-teardown", "none")},
    ),
    "gateways": (
        "gateway id must be a job UUID",
        {"POST": ("gw-provision", "json"), "DELETE": ("gw-teardown", "none")},
    ),
}


def route(method: str, target: str) -> Route:
    """Map a request to an allowed route, or raise Refused."""
    segments, raw_query = normalize_target(target)
    if segments in (["offcoder", "deployment"], ["offcoder", "jobs"], ["offcoder", "runtimes"]):
        if method != "GET" or raw_query:
            raise Refused("method not allowed")
        return Route(segments[1])
    if len(segments) == 3 and segments[0] == "offcoder" and segments[1] in _JOB_OBJECTS:
        bad_id, kinds = _JOB_OBJECTS[segments[1]]
        if raw_query:
            raise Refused("no query here")
        try:
            job = uuid.UUID(segments[2])
        except ValueError as exc:
            raise Refused(bad_id) from exc
        if method not in kinds:
            raise Refused("method not allowed")
        kind, body = kinds[method]
        return Route(kind, body=body, ref=str(job))
    if segments[:2] == ["offcoder", "networks"] and len(segments) == 3:
        try:
            job = uuid.UUID(segments[2])
        except ValueError as exc:
            raise Refused("network id must be a job UUID") from exc
        if method == "POST":
            q = _query(raw_query, frozenset({"mode"}))
            if q.get("mode") not in (NetworkMode.preview.value, NetworkMode.egress.value):
                raise Refused("mode must be preview or egress")
            return Route("net-provision", query=q, ref=str(job))
        if method == "DELETE" and not raw_query:
            return Route("net-teardown", ref=str(job))
        raise Refused("method not allowed")
    version = ""
    if segments and re.match(r"v[0-9]", segments[0]):
        m = _VERSION.fullmatch(segments[0])
        if not m or int(m.group(1)) < MIN_API_MINOR:
            raise Refused(f"API version {segments[0]} is not allowed (1.{MIN_API_MINOR}+ only)")
        version = "/" + segments.pop(0)
    s = segments
    if s == ["_ping"] and method in ("GET", "HEAD") and not raw_query:
        return Route("plain", version, path="/_ping")
    if s == ["version"] and method == "GET" and not raw_query:
        return Route("plain", version, path="/version")
    if s == ["containers", "create"] and method == "POST":
        q = _query(raw_query, frozenset({"name", "platform"}))
        if "name" in q and not _CONTAINER_NAME.fullmatch(q["name"]):
            raise Refused("invalid container name")
        return Route("create", version, q, body="json", path="/containers/create")
    if s == ["containers", "json"] and method == "GET":
        q = _query(raw_query, frozenset({"all", "limit", "size", "filters", "trunc_cmd"}))
        return Route("list", version, q, path="/containers/json")
    if len(s) >= 3 and s[0] == "images" and s[-1] == "json" and method == "GET" and not raw_query:
        ref = "/".join(s[1:-1])
        if not _IMAGE_REF.fullmatch(ref):
            raise Refused("invalid image reference")
        return Route("image", version, ref=ref, path=f"/images/{quote(ref, safe='/:@')}/json")
    if len(s) in (2, 3) and s[0] == "containers" and s[1] not in ("create", "json"):
        if not _CONTAINER_REF.fullmatch(s[1]):
            raise Refused("invalid container reference")
        if len(s) == 2:
            if method != "DELETE":
                raise Refused("method not allowed")
            q = _query(raw_query, frozenset({"force", "v", "link"}))
            if q.pop("link", "0") not in ("0", "false", "False"):
                raise Refused("link removal is not allowed")
            return Route("delete", version, q, ref=s[1])
        spec = _CONTAINER_ACTIONS.get(s[2])
        if spec is None or spec[0] != method:
            raise Refused(f"{method} /containers/{{id}}/{s[2]} is not allowed")
        q = _query(raw_query, spec[1])
        if s[2] == "archive":
            q["path"] = _workspace_path(q.get("path", ""))
        return Route("container", version, q, body=spec[2], upgrade=spec[3], action=s[2], ref=s[1])
    raise Refused(f"{method} {'/' + '/'.join(s)} is not allowed")


def _workspace_path(path: str) -> str:
    if not path.startswith("/") or "\x00" in path:
        raise Refused("archive path must be absolute")
    parts = [p for p in path.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise Refused("archive path may not contain dot segments")
    norm = "/" + "/".join(parts)
    if norm != WORKSPACE and not norm.startswith(WORKSPACE + "/"):
        raise Refused(f"archive uploads go only under {WORKSPACE}")
    return norm


def _no_body(headers: dict[bytes, bytes]) -> bool:
    cl = headers.get(b"content-length")
    return b"transfer-encoding" not in headers and (cl is None or cl.strip() == b"0")


def _strict_json(raw: bytes) -> Any:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                raise Refused(f"duplicate key {key!r} in the create body")
            out[key] = value
        return out

    try:
        return json.loads(raw, object_pairs_hook=pairs)
    except (ValueError, RecursionError) as exc:
        raise Refused(f"the create body is not valid JSON: {exc}", 400) from exc


@dataclass
class _Owned:
    id: str
    job_id: uuid.UUID | None
    status: str
    expires: float


class DockerPolicyProxy:
    def __init__(
        self,
        upstream: str,
        *,
        state_dir: Path,
        deployment: str,
        allowed_images: set[str] | None = None,
        gateway_image: str = DEFAULT_GATEWAY_IMAGE,
        egress_allow_private: bool = False,
        max_limits: SandboxLimits = DEFAULT_LIMITS,
        allowed_runtimes: frozenset[SandboxRuntime] = frozenset({SandboxRuntime.runc}),
    ) -> None:
        self.upstream = upstream
        self.deployment = deployment
        self.engine = EngineClient(upstream)
        volumes = LoopVolumes(self.engine, state_dir, deployment)
        self.workspaces = Workspaces(volumes)
        self.layers = Layers(volumes)
        self.networks = JobNetworks(self.engine, deployment)
        self.gateways = Gateways(
            self.engine,
            deployment=deployment,
            image=gateway_image,
            allow_private=egress_allow_private,
        )
        self.allowed_images = allowed_images
        self.max_limits = max_limits
        self.allowed_runtimes = allowed_runtimes
        self._owned: dict[str, _Owned] = {}

    # ---------------------------------------------------------------- connection handling
    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        down = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        try:
            while True:
                try:
                    event = await asyncio.wait_for(next_event(down, reader), HEAD_TIMEOUT_S)
                except TimeoutError:
                    return
                if not isinstance(event, h11.Request):
                    return
                keep = await self._serve(down, event, reader, writer)
                if not keep or down.our_state is not h11.DONE or down.their_state is not h11.DONE:
                    return
                down.start_next_cycle()
        except h11.RemoteProtocolError as exc:
            if down.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                with contextlib.suppress(Exception):
                    await self._reply(down, writer, 400, f"bad request: {exc}")
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:
            log.exception("docker proxy connection failed")
        finally:
            writer.close()

    async def _reply(
        self, down: h11.Connection, writer: asyncio.StreamWriter, status: int, message: str,
        payload: Any = None,
    ) -> None:  # fmt: skip
        body = json.dumps(payload if payload is not None else {"message": message}).encode()
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
        ]
        if status >= 400:
            headers.append(("Connection", "close"))
        writer.write(down.send(h11.Response(status_code=status, headers=headers)))
        writer.write(down.send(h11.Data(data=body)))
        writer.write(down.send(h11.EndOfMessage()))
        await writer.drain()

    async def _drain(self, down: h11.Connection, reader: asyncio.StreamReader) -> None:
        """Read and drop a refused request's body (bounded), so the client sees the answer."""
        budget = 16 * 1024 * 1024
        with contextlib.suppress(Exception):
            async with asyncio.timeout(10):
                while down.their_state is h11.SEND_BODY and budget > 0:
                    event = await next_event(down, reader)
                    if isinstance(event, h11.Data):
                        budget -= len(event.data)

    async def _serve(
        self,
        down: h11.Connection,
        request: h11.Request,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        method = request.method.decode("ascii", "replace")
        target = request.target.decode("ascii", "replace")
        headers = {bytes(k): bytes(v) for k, v in request.headers}
        try:
            r = route(method, target)
            if r.body == "none" and not _no_body(headers):
                raise Refused("a request body is not allowed here")
            if r.upgrade and headers.get(b"upgrade", b"").lower() != b"tcp":
                raise Refused("attach needs Connection: Upgrade / Upgrade: tcp")
            return await self._dispatch(down, r, method, headers, reader, writer)
        except Refused as exc:
            log.warning(
                "docker proxy refused", method=method, path=target, status=exc.status,
                reason=exc.message,
            )  # fmt: skip
            await self._drain(down, reader)
            await self._reply(down, writer, exc.status, exc.message)
            return False
        except (GatewayError, LayerError) as exc:
            log.error("docker proxy error", method=method, path=target, error=str(exc))
            await self._drain(down, reader)
            await self._reply(down, writer, exc.status if exc.status < 500 else 502, str(exc))
            return False
        except VolumeInUse as exc:
            log.info("docker proxy: volume in use", method=method, path=target, error=str(exc))
            await self._drain(down, reader)
            await self._reply(down, writer, 409, str(exc))
            return False
        except (EngineError, WorkspaceError, NetworkError) as exc:
            log.error("docker proxy error", method=method, path=target, error=str(exc))
            await self._drain(down, reader)
            await self._reply(down, writer, 502, str(exc))
            return False

    async def _read_body(
        self, down: h11.Connection, reader: asyncio.StreamReader, cap: int
    ) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            event = await next_event(down, reader)
            if isinstance(event, h11.Data):
                size += len(event.data)
                if size > cap:
                    raise Refused(f"request body over {cap} bytes", 413)
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return b"".join(chunks)
            else:
                raise Refused("incomplete request body", 400)

    # ---------------------------------------------------------------- policy decisions
    async def _dispatch(
        self,
        down: h11.Connection,
        r: Route,
        method: str,
        headers: dict[bytes, bytes],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        body: bytes | None = None
        if r.kind == "deployment":
            await self._read_body(down, reader, 0)
            await self._reply(down, writer, 200, "", {"Deployment": self.deployment})
            return True
        if r.kind == "runtimes":
            await self._read_body(down, reader, 0)
            await self._reply(down, writer, 200, "", await self._runtimes())
            return True
        if r.kind == "jobs":
            await self._read_body(down, reader, 0)
            jobs = sorted(str(job) for job in await self._jobs_with_objects())
            await self._reply(down, writer, 200, "", {"Jobs": jobs})
            return True
        if r.kind == "ws-provision":
            await self._read_body(down, reader, 0)
            mount = await self.workspaces.provision(uuid.UUID(r.ref))
            await self._reply(down, writer, 201, "", {"Mount": mount})
            return True
        if r.kind == "ws-teardown":
            await self._read_body(down, reader, 0)
            found = await self.workspaces.teardown(uuid.UUID(r.ref))
            await self._reply(down, writer, 200 if found else 404, "", {"Removed": found})
            return True
        if r.kind == "gw-provision":
            if not headers.get(b"content-type", b"").startswith(b"application/json"):
                raise Refused("the gateway body must be application/json")
            allow, ports = parse_gateway_request(
                await self._read_body(down, reader, MAX_GATEWAY_BODY)
            )
            name = await self.gateways.provision(uuid.UUID(r.ref), allow, ports)
            await self._reply(down, writer, 201, "", {"Gateway": name})
            return True
        if r.kind == "gw-teardown":
            await self._read_body(down, reader, 0)
            found = await self.gateways.teardown(uuid.UUID(r.ref))
            await self._reply(down, writer, 200 if found else 404, "", {"Removed": found})
            return True
        if r.kind.startswith("layer-"):
            return await self._layer(down, r, headers, reader, writer)
        if r.kind == "net-provision":
            await self._read_body(down, reader, 0)
            name = await self.networks.provision(uuid.UUID(r.ref), NetworkMode(r.query["mode"]))
            await self._reply(down, writer, 201, "", {"Network": name})
            return True
        if r.kind == "net-teardown":
            await self._read_body(down, reader, 0)
            found = await self.networks.teardown(uuid.UUID(r.ref))
            await self._reply(down, writer, 200 if found else 404, "", {"Removed": found})
            return True
        if r.kind == "create":
            if not headers.get(b"content-type", b"").startswith(b"application/json"):
                raise Refused("the create body must be application/json")
            parsed = _strict_json(await self._read_body(down, reader, MAX_CREATE_BODY))
            target = r.version + r.path + ("?" + urlencode(r.query) if r.query else "")
            # A layer checked here stays until the container that mounts it exists.
            guard = self.layers.held() if _mounts(parsed) > 1 else contextlib.nullcontext()
            async with guard:
                violations = await self._check_create(parsed)
                if violations:
                    raise Refused("container create refused by policy: " + "; ".join(violations))
                body = json.dumps(parsed).encode()
                return await self._forward(down, method, target, headers, body, r, reader, writer)
        if r.kind == "list":
            path = r.path
            r.query["filters"] = _managed_filter(r.query.get("filters"), self.deployment)
        elif r.kind in ("container", "delete"):
            owned = await self._owned_container(r.ref, fresh=r.action == "archive")
            if r.action == "archive" and owned.status != "created":
                raise Refused("files go in only before start (C3): the container is not 'created'")
            path = f"/containers/{owned.id}" + (f"/{r.action}" if r.kind == "container" else "")
        else:
            path = r.path
        if r.body != "tar" and body is None:
            await self._read_body(down, reader, 0)
        target = r.version + path + ("?" + urlencode(r.query) if r.query else "")
        on_response = self._after_delete if r.kind == "delete" else None
        return await self._forward(
            down, method, target, headers, body, r, reader, writer, on_response
        )

    async def _layer(
        self,
        down: h11.Connection,
        r: Route,
        headers: dict[bytes, bytes],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        job_id = uuid.UUID(r.ref)
        if r.kind == "layer-provision":
            if not headers.get(b"content-type", b"").startswith(b"application/json"):
                raise Refused("the layer body must be application/json")
            project, owner, size = parse_layer_request(
                await self._read_body(down, reader, MAX_LAYER_BODY)
            )
            made = await self.layers.provision(job_id, project, owner, size)
            await self._reply(down, writer, 201, "", made)
            return True
        await self._read_body(down, reader, 0)
        if r.kind == "layer-describe":
            found = await self.layers.describe(job_id)
            await self._reply(down, writer, 200 if found else 404, "no such layer", found)
        else:
            removed = await self.layers.teardown(job_id)
            await self._reply(down, writer, 200 if removed else 404, "", {"Removed": removed})
        return True

    async def _runtimes(self) -> dict[str, list[str]]:
        status, info = await self.engine.request("GET", "/info")
        if status != 200 or not isinstance(info, dict):
            raise EngineError(f"engine answered {status} to /info")
        return {
            "Allowed": sorted(r.value for r in self.allowed_runtimes),
            "Engine": sorted(str(name) for name in info.get("Runtimes") or {}),
        }

    async def _check_create(self, parsed: Any) -> list[str]:
        violations = check_create_body(
            parsed,
            deployment=self.deployment,
            allowed_images=self.allowed_images,
            max_limits=self.max_limits,
            allowed_runtimes=self.allowed_runtimes,
        )
        if violations:
            return violations
        labels = parsed["Labels"]
        job_id = uuid.UUID(labels[LABEL_JOB_ID])
        if parsed["HostConfig"].get("Mounts") and not await self.workspaces.is_provisioned(job_id):
            violations.append("the workspace volume was not provisioned by this proxy for the job")
        layer = layer_mount_source(parsed)
        if layer is not None:
            violations += await self.layers.check_mount(layer, labels)
        if labels[LABEL_NETWORK] != NetworkMode.none.value:
            net = await self.engine.inspect("networks", job_network_name(job_id))
            if net is None or not is_ours(net.get("Labels"), self.deployment, job_id):
                violations.append("the job's network does not exist or is not ours")
            elif not await self.networks.is_walled(job_id, net):
                violations.append("the job's network is not walled off the host")
        image = await self.engine.inspect("images", parsed["Image"])
        if image is not None and ((image.get("Config") or {}).get("Volumes") or {}):
            violations.append("the image declares VOLUMEs (unquota'd anonymous volumes)")
        return violations

    async def _owned_container(self, ref: str, *, fresh: bool) -> _Owned:
        now = time.monotonic()
        cached = self._owned.get(ref)
        if cached is not None and cached.expires > now and not fresh:
            return cached
        data = await self.engine.inspect("containers", ref)
        labels = ((data or {}).get("Config") or {}).get("Labels") or {}
        if data is None or not is_ours(labels, self.deployment, None) or LABEL_ROLE in labels:
            # Gateways are the proxy's own: managed only through /offcoder/gateways. Another
            # deployment's sandboxes are not ours either, whoever else runs on the engine.
            self._owned.pop(ref, None)
            # Same answer for "absent" and "not ours": nothing is revealed about other containers.
            raise Refused(f"no such container managed by OffCoder: {ref}", 404)
        try:
            job_id: uuid.UUID | None = uuid.UUID(labels.get(LABEL_JOB_ID, ""))
        except ValueError:
            job_id = None
        owned = _Owned(
            id=str(data["Id"]),
            job_id=job_id,
            status=str((data.get("State") or {}).get("Status", "")),
            expires=now + OWNERSHIP_CACHE_S,
        )
        self._owned[ref] = owned
        return owned

    async def _listed(self, labels: list[str]) -> dict[str, list[dict[str, Any]]]:
        """The engine's containers, networks and volumes carrying all of `labels`."""
        filters = json.dumps({"label": labels})
        found: dict[str, list[dict[str, Any]]] = {}
        for kind, path in (
            ("containers", "/containers/json"),
            ("networks", "/networks"),
            ("volumes", "/volumes"),
        ):
            query = {"filters": filters} | ({"all": "1"} if kind == "containers" else {})
            status, data = await self.engine.request("GET", path, query=query)
            if status != 200:
                raise EngineError(f"engine answered {status} to list {kind}: {data}")
            items = data.get("Volumes") if isinstance(data, dict) else data
            found[kind] = [item for item in items or [] if isinstance(item, dict)]
        return found

    async def _jobs_with_objects(self) -> set[uuid.UUID]:
        """Every job that holds a container, network or workspace volume of this deployment,
        a workspace image in its directory, or a host wall: what a worker killed at any step
        can leave.

        A dependency layer is not among them: it is named after its install job but outlives
        it by design, the project's until replaced, and a reconciler tearing down what an ended
        job left must not see it. Its removal is the dependency reconciler's, from the workers'
        own list of the layers they asked for (`dependencies/runtime.reconcile`)."""
        ours = [f"{LABEL_MANAGED}=1", f"{LABEL_DEPLOYMENT}={self.deployment}"]
        jobs = self.workspaces.imaged_jobs() | await self.networks.walled_jobs()
        for items in (await self._listed(ours)).values():
            for item in items:
                labels = item.get("Labels") or {}
                # The engine filtered; checked again.
                if is_ours(labels, self.deployment, None) and labels.get(LABEL_LAYER) != "1":
                    with contextlib.suppress(ValueError):
                        jobs.add(uuid.UUID(labels.get(LABEL_JOB_ID, "")))
        return jobs

    async def log_legacy_objects(self) -> None:
        """Say what an older version left without a deployment label (and its workspace images,
        kept then in the state directory itself). No deployment owns it, so no proxy lists,
        inspects or removes it: the operator removes it by hand once that version is stopped
        (decision 0019)."""
        try:
            listed = await self._listed([f"{LABEL_MANAGED}=1", LABEL_JOB_ID])
        except (OSError, EngineError) as exc:
            log.warning("docker proxy could not look for legacy objects", error=str(exc))
            return
        legacy = {
            kind: sum(1 for item in items if LABEL_DEPLOYMENT not in (item.get("Labels") or {}))
            for kind, items in listed.items()
        }
        legacy["images"] = len(list(self.workspaces.images.parent.glob("*.img")))
        if any(legacy.values()):
            log.warning(
                "objects of an older OffCoder without a deployment label are left alone",
                **legacy,
            )

    async def _after_delete(self, ref: str, status: int) -> None:
        """After the engine removed one of ours, and before the client hears: its workspace goes."""
        if status != 204:
            return
        owned = self._owned.get(ref)
        self._owned = {k: o for k, o in self._owned.items() if owned is None or o.id != owned.id}
        if owned is not None and owned.job_id is not None:
            try:  # first: a network with a container attached cannot be removed
                await self.gateways.teardown(owned.job_id)
            except (GatewayError, EngineError, OSError) as exc:
                log.error("gateway teardown failed", job_id=str(owned.job_id), error=str(exc))
            try:
                await self.workspaces.teardown(owned.job_id)
            except WorkspaceError as exc:
                log.error("workspace teardown failed", job_id=str(owned.job_id), error=str(exc))
            try:
                await self.networks.teardown(owned.job_id)
            except (NetworkError, OSError) as exc:
                log.error("network teardown failed", job_id=str(owned.job_id), error=str(exc))

    # ---------------------------------------------------------------- forwarding
    async def _forward(
        self,
        down: h11.Connection,
        method: str,
        target: str,
        headers: dict[bytes, bytes],
        body: bytes | None,
        r: Route,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        on_response: Callable[[str, int], Awaitable[None]] | None = None,
    ) -> bool:
        up_reader, up_writer = await asyncio.open_unix_connection(self.upstream)
        try:
            up = h11.Connection(h11.CLIENT)
            fwd: list[tuple[str, str]] = [("Host", "docker")]
            for name in _FORWARD_REQUEST_HEADERS:
                if name in headers:
                    fwd.append((name.decode(), headers[name].decode("latin-1")))
            if r.upgrade:
                fwd += [("Connection", "Upgrade"), ("Upgrade", "tcp")]
            else:
                fwd.append(("Connection", "close"))
            if body is not None:
                fwd.append(("Content-Length", str(len(body))))
            elif r.body == "tar":
                fwd.append(("Transfer-Encoding", "chunked"))
            else:
                fwd.append(("Content-Length", "0"))
            up_writer.write(up.send(h11.Request(method=method, target=target, headers=fwd)))
            if body:
                up_writer.write(up.send(h11.Data(data=body)))
            elif r.body == "tar":
                size = 0
                while True:
                    event = await next_event(down, reader)
                    if isinstance(event, h11.EndOfMessage):
                        break
                    if not isinstance(event, h11.Data):
                        raise Refused("incomplete request body", 400)
                    size += len(event.data)
                    if size > MAX_ARCHIVE_BODY:
                        raise Refused("archive over the size cap", 413)
                    up_writer.write(up.send(h11.Data(data=event.data)))
                    await up_writer.drain()
            up_writer.write(up.send(h11.EndOfMessage()))
            await up_writer.drain()

            while True:
                event = await next_event(up, up_reader)
                if isinstance(event, h11.InformationalResponse) and event.status_code == 101:
                    if not r.upgrade:
                        raise EngineError("unexpected protocol switch from the engine")
                    await self._splice(down, up, event, reader, writer, up_reader, up_writer)
                    return False
                if isinstance(event, h11.InformationalResponse):
                    continue
                if isinstance(event, h11.Response):
                    break
                raise EngineError("the engine closed the connection without answering")
            if on_response is not None:
                await on_response(r.ref, event.status_code)
            out_headers = [
                (k, v) for k, v in event.headers if bytes(k).lower() not in _DROP_RESPONSE_HEADERS
            ]
            writer.write(
                down.send(h11.Response(status_code=event.status_code, headers=out_headers))
            )
            await writer.drain()
            while True:
                chunk = await next_event(up, up_reader)
                if isinstance(chunk, h11.Data):
                    writer.write(down.send(h11.Data(data=chunk.data)))
                    await writer.drain()
                elif isinstance(chunk, h11.EndOfMessage):
                    writer.write(down.send(h11.EndOfMessage()))
                    await writer.drain()
                    return True
                else:
                    return False
        finally:
            up_writer.close()

    async def _splice(
        self,
        down: h11.Connection,
        up: h11.Connection,
        switch: h11.InformationalResponse,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
    ) -> None:
        """Attach: after the engine's 101, copy raw bytes both ways until the stream ends."""
        keep = [(k, v) for k, v in switch.headers if bytes(k).lower() == b"content-type"]
        headers = [*keep, (b"Connection", b"Upgrade"), (b"Upgrade", b"tcp")]
        writer.write(down.send(h11.InformationalResponse(status_code=101, headers=headers)))
        await writer.drain()
        # docker-py (like other clients that take over the raw socket after the 101 head) loses
        # stream bytes that arrive together with the head in its read buffer: let the head be
        # read on its own first, as the engine's own flush-then-stream timing does.
        await asyncio.sleep(UPGRADE_GAP_S)
        writer.write(up.trailing_data[0])
        up_writer.write(down.trailing_data[0])
        await writer.drain()
        await up_writer.drain()

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
                if dst.can_write_eof():
                    dst.write_eof()

        to_client = asyncio.create_task(pipe(up_reader, writer))
        to_engine = asyncio.create_task(pipe(reader, up_writer))
        await to_client  # the engine ends the stream when the container's output ends
        to_engine.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await to_engine


def _mounts(parsed: Any) -> int:
    """How many mounts an (unchecked) create body asks for."""
    host_config = parsed.get("HostConfig") if isinstance(parsed, dict) else None
    mounts = host_config.get("Mounts") if isinstance(host_config, dict) else None
    return len(mounts) if isinstance(mounts, list) else 0


def _managed_filter(raw: str | None, deployment: str) -> str:
    """The list filters with ``label=dev.offcoder.managed=1`` and this deployment's label always
    added (labels AND)."""
    filters: dict[str, Any] = {}
    if raw:
        try:
            filters = json.loads(raw)
        except ValueError as exc:
            raise Refused("filters must be JSON") from exc
        if not isinstance(filters, dict):
            raise Refused("filters must be a JSON object")
    labels = filters.get("label", [])
    if isinstance(labels, dict):  # the old map form {"k=v": true}
        labels = [k for k, on in labels.items() if on]
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise Refused("malformed label filter")
    filters["label"] = [*labels, f"{LABEL_MANAGED}=1", f"{LABEL_DEPLOYMENT}={deployment}"]
    return json.dumps(filters)


# -------------------------------------------------------------------- serving
async def start_proxy(
    socket_path: str,
    upstream: str,
    *,
    state_dir: str | Path | None = None,
    allowed_images: set[str] | None = None,
    deployment: str | None = None,
    max_limits: SandboxLimits = DEFAULT_LIMITS,
    allowed_runtimes: frozenset[SandboxRuntime] = frozenset({SandboxRuntime.runc}),
) -> asyncio.Server:
    """Listen on `socket_path` (mode 0660) and return the running server."""
    state = Path(state_dir or os.environ.get("OFFCODER_PROXY_STATE_DIR", DEFAULT_STATE_DIR))
    proxy = DockerPolicyProxy(
        upstream,
        state_dir=state,
        deployment=deployment_id(
            state, deployment or os.environ.get("OFFCODER_PROXY_DEPLOYMENT_ID") or None
        ),
        allowed_images=allowed_images,
        gateway_image=os.environ.get("OFFCODER_PROXY_GATEWAY_IMAGE", DEFAULT_GATEWAY_IMAGE),
        egress_allow_private=os.environ.get("OFFCODER_PROXY_EGRESS_ALLOW_PRIVATE") == "1",
        max_limits=max_limits,
        allowed_runtimes=allowed_runtimes,
    )
    _prepare_socket_path(Path(socket_path))
    old = os.umask(0o117)
    try:
        server = await asyncio.start_unix_server(proxy.handle, path=socket_path)
    finally:
        os.umask(old)
    log.info(
        "docker proxy listening", socket=socket_path, upstream=upstream, deployment=proxy.deployment
    )
    await proxy.log_legacy_objects()
    return server


class DeploymentIdError(ValueError):
    """The configured or stored deployment id is not one; the message says what one is."""


def deployment_id(state_dir: Path, configured: str | None) -> str:
    """This proxy's deployment id: the configured one, or one generated at the first start into
    the state directory and read back at every later start (a restarted proxy still owns what
    it made). DeploymentIdError for an id that is not one (`policy.is_deployment_id`)."""
    if configured is None:
        path = state_dir / DEPLOYMENT_FILE
        if not path.exists():
            state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            draft = state_dir / f".{DEPLOYMENT_FILE}.{os.getpid()}"
            draft.touch(mode=0o600)
            draft.write_text(secrets.token_hex(8) + "\n")
            try:  # a link is atomic: of two proxies starting at once, one id wins for both
                os.link(draft, path)
            except FileExistsError:
                pass
            finally:
                draft.unlink(missing_ok=True)
        configured = path.read_text().strip()
    if not is_deployment_id(configured):
        raise DeploymentIdError(
            f"the deployment id {configured!r} is not one: 1 to 40 of a-z, 0-9 and inner hyphens"
        )
    return configured


def _prepare_socket_path(sock: Path) -> None:
    sock.parent.mkdir(parents=True, exist_ok=True)
    if sock.exists() or sock.is_symlink():
        if not stat.S_ISSOCK(sock.lstat().st_mode):
            raise RuntimeError(f"{sock} exists and is not a socket")
        sock.unlink()


def allowed_images_from_env() -> set[str]:
    """``OFFCODER_PROXY_ALLOWED_IMAGES`` (comma-separated); unset, the images we build
    (`runtime.catalogue.IMAGES`): a caller of the socket cannot run an image of its choosing."""
    raw = os.environ.get("OFFCODER_PROXY_ALLOWED_IMAGES", "").strip()
    return {x.strip() for x in raw.split(",") if x.strip()} or set(IMAGES.values())


class RuntimesError(ValueError):
    """``OFFCODER_PROXY_RUNTIMES`` names a runtime that is not one; the message lists them."""


def allowed_runtimes_from_env() -> frozenset[SandboxRuntime]:
    """``OFFCODER_PROXY_RUNTIMES`` (comma-separated: runc, crun, runsc); unset, the one the
    deployment runs its sandboxes under (``OFFCODER_SANDBOX_RUNTIME``, default runc), so that a
    one-host deployment configures it once."""
    raw = os.environ.get("OFFCODER_PROXY_RUNTIMES", "").strip() or os.environ.get(
        "OFFCODER_SANDBOX_RUNTIME", SandboxRuntime.runc.value
    )
    names = [x.strip() for x in raw.split(",") if x.strip()]
    known = {r.value for r in SandboxRuntime}
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise RuntimesError(
            f"OFFCODER_PROXY_RUNTIMES={raw!r}: {', '.join(unknown) or 'nothing'} is not a "
            f"sandbox runtime; the runtimes are {', '.join(sorted(known))}"
        )
    return frozenset(SandboxRuntime(n) for n in names)


class MaxCpusError(ValueError):
    """``OFFCODER_PROXY_MAX_CPUS`` is not a number of cores; the message says what it takes."""


def max_limits_from_env() -> SandboxLimits:
    """The most a sandbox may ask for: the policy's maxima, with the CPU cap in cores from
    ``OFFCODER_PROXY_MAX_CPUS`` (default 1, the policy's)."""
    raw = os.environ.get("OFFCODER_PROXY_MAX_CPUS", "").strip()
    if not raw:
        return DEFAULT_LIMITS
    try:
        cores = float(raw)
    except ValueError:
        cores = 0.0
    if not 0.01 <= cores <= MAX_CPUS:
        raise MaxCpusError(
            f"OFFCODER_PROXY_MAX_CPUS={raw!r} is not a number of cores from 0.01 to {MAX_CPUS}"
        )
    return replace(DEFAULT_LIMITS, nano_cpus=round(cores * 1e9))


async def _serve_until_signal(socket_path: str, upstream: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server = await start_proxy(
        socket_path,
        upstream,
        allowed_images=allowed_images_from_env(),
        max_limits=max_limits_from_env(),
        allowed_runtimes=allowed_runtimes_from_env(),
    )
    try:
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed()
        _unlink(socket_path)
        log.info("docker proxy stopped", socket=socket_path)


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def run_proxy(socket_path: str, upstream: str) -> None:
    """Serve the policy proxy on `socket_path` until SIGINT or SIGTERM (blocking).

    Configuration from the environment: ``OFFCODER_PROXY_STATE_DIR`` (workspace images and the
    generated deployment id, default /var/lib/offcoder/workspaces),
    ``OFFCODER_PROXY_DEPLOYMENT_ID`` (this deployment's id; unset: generated once into the state
    directory; deployments sharing an engine need distinct ones),
    ``OFFCODER_PROXY_ALLOWED_IMAGES`` (comma-separated; unset: the images we build, the
    catalogue's), ``OFFCODER_PROXY_RUNTIMES`` (the sandbox runtimes a create body may name,
    comma-separated; unset: ``OFFCODER_SANDBOX_RUNTIME``'s, default runc),
    ``OFFCODER_PROXY_MAX_CPUS`` (the CPU cap in cores a sandbox may ask for at most, default 1),
    ``OFFCODER_PROXY_GATEWAY_IMAGE`` (the egress gateway's image, default
    offcoder/python:current), ``OFFCODER_PROXY_EGRESS_ALLOW_PRIVATE=1`` (tests only: egress
    gateways may reach private addresses, where the test servers live).
    """
    asyncio.run(_serve_until_signal(socket_path, upstream))
