"""The host wall (C5): nothing on a job's bridge reaches the Docker host itself.

A job network's bridge has an address on the host (its gateway), and packets from the job to
any address of the host (that gateway, the host's other interfaces) go through the host's
INPUT chain, which Docker leaves unfiltered: without this, a preview or egress job could reach
every service listening on the host. The proxy (root on the host already) therefore puts one
rule at the top of INPUT, for IPv4 and IPv6 (the bridge has an IPv6 link-local address even
when the network has no IPv6), sending whatever comes in on the job's bridge to the shared
chain ``OFFCODER-HOSTWALL``: replies of connections the host opened (the published port's
path: docker-proxy connects into the job) return to INPUT as before, everything else is
dropped. Traffic between the job and its egress gateway is bridged, not delivered to the host,
so it does not pass here.

Each jump rule carries the comment ``offcoder-hostwall <deployment> <job id>``: it is found and
removed by that tag alone (never any other rule), and a deployment sees only its own. The
chain holds no job's rules and is shared by every deployment on the host; it is never removed.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import uuid
from dataclasses import dataclass

import structlog

log = structlog.get_logger(__name__)

CHAIN = "OFFCODER-HOSTWALL"
TAG = "offcoder-hostwall"
TOOLS = ("iptables", "ip6tables")
_SEARCH_PATH = os.pathsep.join((os.environ.get("PATH", ""), "/usr/sbin", "/sbin"))

# Declaring the chain flushes it (--noflush keeps everything else): applying this again is
# idempotent, and atomic, so proxies of two deployments never see it half-built.
CHAIN_RULES = f"""*filter
:{CHAIN} - [0:0]
-A {CHAIN} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
-A {CHAIN} -j DROP
COMMIT
"""


class HostWallError(Exception):
    """Building or removing a job's host wall failed; the message says why."""


@dataclass(frozen=True)
class _Ran:
    code: int
    out: str
    err: str


async def _run(tool: str, *args: str, stdin: str | None = None) -> _Ran:
    path = shutil.which(tool, path=_SEARCH_PATH)
    if path is None:
        raise HostWallError(f"{tool} is not installed: the host wall cannot be built")
    proc = await asyncio.create_subprocess_exec(
        path,
        *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(stdin.encode() if stdin is not None else None)
    return _Ran(proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace"))


class HostWall:
    def __init__(self, deployment: str) -> None:
        self.deployment = deployment

    def tag(self, job_id: uuid.UUID) -> str:
        return f"{TAG} {self.deployment} {job_id}"

    def _jump(self, job_id: uuid.UUID, bridge: str) -> list[str]:
        """The jump rule's match and target, without the chain it sits in (INPUT)."""
        return ["-i", bridge, "-m", "comment", "--comment", self.tag(job_id), "-j", CHAIN]

    async def install(self, job_id: uuid.UUID, bridge: str) -> None:
        """Wall the job's bridge off the host; idempotent."""
        for tool in TOOLS:
            ran = await _run(f"{tool}-restore", "-w", "--noflush", stdin=CHAIN_RULES)
            if ran.code != 0:
                raise HostWallError(f"{tool}-restore of {CHAIN} failed: {ran.err.strip()}")
            if (await _run(tool, "-w", "-C", "INPUT", *self._jump(job_id, bridge))).code == 0:
                continue
            # First in INPUT: no rule of the host's may accept the job's traffic before it.
            ran = await _run(tool, "-w", "-I", "INPUT", "1", *self._jump(job_id, bridge))
            if ran.code != 0:
                raise HostWallError(f"{tool} could not wall off {bridge}: {ran.err.strip()}")
        log.info("host wall up", job_id=str(job_id), bridge=bridge)

    async def is_installed(self, job_id: uuid.UUID, bridge: str) -> bool:
        for tool in TOOLS:
            if (await _run(tool, "-w", "-C", "INPUT", *self._jump(job_id, bridge))).code != 0:
                return False
        return True

    async def _tagged(self, tool: str) -> list[tuple[uuid.UUID, list[str]]]:
        """This deployment's jump rules in INPUT: (job id, rule as `-A INPUT ...` words)."""
        ran = await _run(tool, "-w", "-S", "INPUT")
        if ran.code != 0:
            raise HostWallError(f"{tool} could not list INPUT: {ran.err.strip()}")
        found = []
        for line in ran.out.splitlines():
            words = shlex.split(line)
            if "--comment" not in words or words[:2] != ["-A", "INPUT"]:
                continue
            comment = words[words.index("--comment") + 1].split(" ")
            if len(comment) != 3 or comment[:2] != [TAG, self.deployment]:
                continue
            try:
                found.append((uuid.UUID(comment[2]), words))
            except ValueError:
                continue
        return found

    async def remove(self, job_id: uuid.UUID) -> int:
        """Remove the job's rules (whatever bridge they name); answers how many went."""
        removed = 0
        for tool in TOOLS:
            for tagged, words in await self._tagged(tool):
                if tagged != job_id:
                    continue
                ran = await _run(tool, "-w", "-D", *words[1:])
                if ran.code != 0:
                    raise HostWallError(f"{tool} could not remove a host wall: {ran.err.strip()}")
                removed += 1
        if removed:
            log.info("host wall down", job_id=str(job_id), rules=removed)
        return removed

    async def jobs(self) -> set[uuid.UUID]:
        """The jobs of this deployment with a rule still up."""
        found: set[uuid.UUID] = set()
        for tool in TOOLS:
            found |= {job_id for job_id, _ in await self._tagged(tool)}
        return found
