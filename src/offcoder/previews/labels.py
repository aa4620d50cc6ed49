"""A project's preview label: the first label of its preview host, `<handle>--<slug>` (C7,
review F6).

- Unambiguous: neither handles nor slugs hold two hyphens in a row (users/schemas,
  projects/rules), so `--` splits a label one way only, where `alice-shop-app` read two.
- Stable: given at the project's first preview and stored on the project, never recomputed; an
  owner who changes their handle keeps their links.
- Never given twice: every label given is kept, by its hash, after its project is deleted
  (`ReservedPreviewLabel`), so a handle given up and taken by someone else, or a project
  recreated under the same name, gets another label: an old link never opens another's page.
- A DNS label: at most 63 characters; a longer `<handle>--<slug>` keeps the handle, shortens the
  slug and ends with a random suffix.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.config import Settings
from offcoder.db.engine import Database
from offcoder.previews.models import ReservedPreviewLabel
from offcoder.projects.models import Project

MAX_LABEL = 63
SEPARATOR = "--"
_HOST = re.compile(r"([a-z0-9.-]{1,253})(?::[0-9]{1,5})?")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
ATTEMPTS = 6


def label_hash(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


def is_label(text: str) -> bool:
    return bool(_LABEL.fullmatch(text)) and SEPARATOR in text


def candidates(handle: str, slug: str) -> list[str]:
    """The labels to try, in order: the plain one when it fits, then ones with a random
    suffix (which also fit)."""
    plain = f"{handle}{SEPARATOR}{slug}"
    out = [plain] if len(plain) <= MAX_LABEL else []
    while len(out) < ATTEMPTS:
        suffix = "-" + secrets.token_hex(3)
        room = MAX_LABEL - len(handle) - len(SEPARATOR) - len(suffix)
        out.append(f"{handle}{SEPARATOR}{slug[:room].rstrip('-')}{suffix}")
    return out


async def ensure_label(
    session: AsyncSession, database: Database, project: Project, handle: str
) -> str:
    """The project's label, given now if it has none. `session` is the owner's (the label is
    written on their project under RLS); the reservation commits first, as the system role: a
    label reserved for a submit that then fails stays this project's, for its next try."""
    if project.preview_label is not None:
        return project.preview_label
    for label in candidates(handle, project.slug):
        if await _reserve(database, label, project.id):
            project.preview_label = label
            await session.flush()
            return label
    raise RuntimeError("no free preview label found")  # pragma: no cover - 6 random collisions


async def _reserve(database: Database, label: str, project_id: uuid.UUID) -> bool:
    """Reserve `label` for the project: true when it is now this project's (or already was)."""
    digest = label_hash(label)
    try:
        async with database.system_session() as system:
            system.add(ReservedPreviewLabel(label_sha256=digest, project_id=project_id))
    except IntegrityError:
        async with database.system_session() as system:
            owner = await system.scalar(
                select(ReservedPreviewLabel.project_id).where(
                    ReservedPreviewLabel.label_sha256 == digest
                )
            )
        return owner == project_id
    return True


async def project_of_label(system: AsyncSession, label: str) -> Project | None:
    """The project a host's label names, read by the system role (the edge knows no user yet)."""
    if not is_label(label):
        return None
    return await system.scalar(select(Project).where(Project.preview_label == label))


def preview_host(settings: Settings, label: str) -> str:
    """The host (with the public URL's port, if it names one) a label is served at."""
    public = urlsplit(settings.public_url)
    port = f":{public.port}" if public.port else ""
    return f"{label}.{settings.preview_domain}{port}"


def preview_url(settings: Settings, label: str) -> str:
    return f"{urlsplit(settings.public_url).scheme}://{preview_host(settings, label)}"


def label_of_host(settings: Settings, host: str) -> str | None:
    """The label of a Host header (name, and a port of digits only) under the preview domain,
    else None: a host for the API, or no host at all. Strict, because the console redirects to
    it: anything else (userinfo, another port syntax) is no preview host."""
    match = _HOST.fullmatch(host.strip().lower())
    suffix = "." + settings.preview_domain.lower()
    if match is None or not match.group(1).endswith(suffix):
        return None
    label = match.group(1)[: -len(suffix)]
    return label if is_label(label) else None


def preview_environment(settings: Settings, label: str) -> dict[str, str]:
    """What a preview job is told of where it is served: its URL, and the host for development
    servers that refuse requests for a Host they were not told of (Vite's additional allowed
    hosts), so the page loads through the edge as it does on the job's own port."""
    host = f"{label}.{settings.preview_domain}"
    return {
        "OFFCODER_PREVIEW_URL": preview_url(settings, label),
        "__VITE_ADDITIONAL_SERVER_ALLOWED_HOSTS": host,
    }
