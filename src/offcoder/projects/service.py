"""Projects, their files and their secrets, for the signed-in user.

Every function takes the request's transaction (application role, under RLS) and the caller's
user id, and never commits. Another user's project is simply absent: 404, never 403.
"""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.config import Settings
from offcoder.crypto import bindings
from offcoder.crypto.keyring import Keyring
from offcoder.kit.pagination import INSTANT, TEXT, UUID, Keyset
from offcoder.logs import SensitiveHold
from offcoder.problems import Conflict, InvalidInput, NotFound, PayloadTooLarge
from offcoder.projects import quota, repository, rules
from offcoder.projects.models import Project, ProjectFile, ProjectSecret
from offcoder.projects.schemas import FileOut, SecretOut

SLUG_ATTEMPTS = 5

# The listings' cursors: newest project first; files by path; secrets by name.
PROJECT_PAGES: Keyset[Project] = Keyset("projects", (INSTANT, UUID), lambda p: (p.created_at, p.id))
FILE_PAGES: Keyset[ProjectFile] = Keyset("files", (TEXT,), lambda f: (f.path,))
SECRET_PAGES: Keyset[ProjectSecret] = Keyset("secrets", (TEXT,), lambda s: (s.name,))
# The settings' defaults, for callers that do not pass the configured limits.
DEFAULT_MAX_SECRETS: int = Settings.model_fields["max_secrets_per_project"].default
DEFAULT_MAX_SECRET_BYTES: int = Settings.model_fields["max_project_secret_bytes"].default


# --- projects ---------------------------------------------------------------------------------


async def create_project(
    session: AsyncSession,
    user_id: uuid.UUID,
    name: str,
    *,
    storage: quota.StorageQuota = quota.DEFAULT,
) -> Project:
    """A new project whose slug comes from its name, suffixed (-2, -3, ...) when taken; 409
    past the person's `storage.projects`."""
    name = rules.check_project_name(name)
    await quota.hold(session, user_id)
    await quota.check_new_project(session, user_id, storage)
    base = rules.slug_base(name)
    taken = await repository.slugs_starting_with(session, user_id, base)
    for attempt in range(SLUG_ATTEMPTS + 1):
        slug = _free_slug(base, taken) if attempt < SLUG_ATTEMPTS else None
        slug = slug or rules.slug_with_random_suffix(base)
        project = Project(user_id=user_id, name=name, slug=slug)
        try:
            # A concurrent create may take the same slug between our read and our insert.
            async with session.begin_nested():
                session.add(project)
                await session.flush()
        except IntegrityError:
            taken.add(project.slug)
            continue
        return project
    raise RuntimeError("no free slug found")  # pragma: no cover - random suffix collided 6 times


def _free_slug(base: str, taken: set[str]) -> str:
    if base not in taken:
        return base
    n = 2
    while rules.slug_with_suffix(base, n) in taken:
        n += 1
    return rules.slug_with_suffix(base, n)


async def list_projects(
    session: AsyncSession, user_id: uuid.UUID, after: str | None, limit: int
) -> tuple[list[Project], str | None]:
    """One page of the user's projects, newest first, and the cursor of the next page."""
    key = PROJECT_PAGES.after(after)
    rows = await repository.list_projects(
        session, user_id, after=(key[0], key[1]) if key else None, limit=limit + 1
    )
    return PROJECT_PAGES.page(rows, limit)


async def get_project(
    session: AsyncSession, user_id: uuid.UUID, project_id: uuid.UUID, *, lock: bool = False
) -> Project:
    project = await repository.get_project(session, user_id, project_id, lock=lock)
    if project is None:
        raise NotFound("project")
    return project


async def update_project(
    session: AsyncSession,
    user_id: uuid.UUID,
    project_id: uuid.UUID,
    changes: dict[str, str | None],
) -> Project:
    """Change what `changes` names: `name` (the slug stays, since preview addresses (C7) are
    built from it) and `run_command` (None forgets it)."""
    name = changes.get("name")
    if name is not None:
        name = rules.check_project_name(name)
    command = changes.get("run_command")
    if command is not None:
        command = rules.check_run_command(command)
    project = await get_project(session, user_id, project_id, lock=True)
    if name is not None:
        project.name = name
    if "run_command" in changes:
        project.run_command = command
    await session.flush()
    await session.refresh(project)
    return project


async def delete_project(session: AsyncSession, user_id: uuid.UUID, project_id: uuid.UUID) -> None:
    """Delete the project with its files and secrets."""
    if not await repository.delete_project(session, user_id, project_id):
        raise NotFound("project")


# --- files ------------------------------------------------------------------------------------


async def put_file(
    session: AsyncSession,
    user_id: uuid.UUID,
    project_id: uuid.UUID,
    path: str,
    content: bytes,
    *,
    max_project_bytes: int,
    storage: quota.StorageQuota = quota.DEFAULT,
) -> FileOut:
    """Create or replace one file, keeping the project within `max_project_bytes` and the
    person within `storage.file_bytes` (413 for either; the file stored before is kept).

    The person's storage turn and the project row are held until commit, so concurrent uploads
    are checked one after the other and cannot together pass a limit.
    """
    path = rules.check_file_path(path)
    await quota.hold(session, user_id)
    await get_project(session, user_id, project_id, lock=True)
    used = await repository.bytes_used_except(session, user_id, project_id, path)
    if used + len(content) > max_project_bytes:
        raise PayloadTooLarge(
            f"The project would hold more than {max_project_bytes} bytes of files."
        )
    await quota.check_file(session, user_id, project_id, path, len(content), storage)
    digest = hashlib.sha256(content).hexdigest()
    size, sha256, updated_at = await repository.upsert_file(
        session, user_id, project_id, path, content, digest
    )
    return FileOut(path=path, size=size, sha256=sha256, updated_at=updated_at)


async def read_file(
    session: AsyncSession, user_id: uuid.UUID, project_id: uuid.UUID, path: str
) -> ProjectFile:
    path = rules.check_file_path(path)
    await get_project(session, user_id, project_id)
    stored = await repository.get_file(session, user_id, project_id, path)
    if stored is None:
        raise NotFound("file")
    return stored


async def delete_file(
    session: AsyncSession, user_id: uuid.UUID, project_id: uuid.UUID, path: str
) -> None:
    path = rules.check_file_path(path)
    await get_project(session, user_id, project_id, lock=True)
    if not await repository.delete_file(session, user_id, project_id, path):
        raise NotFound("file")


async def move_files(
    session: AsyncSession, user_id: uuid.UUID, project_id: uuid.UUID, source: str, target: str
) -> list[FileOut]:
    """Rename the file `source`, or else the folder `source` (every file under `source/`), to
    `target`, all or nothing. Sizes do not change, so no storage limit can be crossed; the
    project row is locked like a write's, so a concurrent write or move waits for this one.

    404 when nothing is at or under `source`; 422 for a path outside the rules, a move onto
    itself or of a folder into itself; 409 when a file already has one of the new paths.
    """
    source = rules.check_file_path(source)
    target = rules.check_file_path(target)
    if source == target:
        raise InvalidInput("The new path is the same as the old one.")
    await get_project(session, user_id, project_id, lock=True)
    found = await repository.paths_at_or_under(session, user_id, project_id, source)
    if not found:
        raise NotFound("file or folder")
    # A file of that name moves alone; without one, the name is a folder's.
    paths = [source] if source in found else found
    if len(paths) > 1 and target.startswith(source + "/"):
        raise InvalidInput("A folder cannot be moved into itself.")
    new_paths = [rules.check_file_path(target + p[len(source) :]) for p in paths]
    taken = await repository.existing_paths(session, user_id, project_id, new_paths)
    taken -= set(paths)
    if taken:
        raise Conflict(f"A file named {min(taken)} already exists; rename or delete it first.")
    rows = await repository.move_files(
        session, user_id, project_id, paths, source=source, target=target
    )
    return [FileOut(path=p, size=size, sha256=h, updated_at=at) for p, size, h, at in rows]


async def list_files(
    session: AsyncSession, user_id: uuid.UUID, project_id: uuid.UUID, after: str | None, limit: int
) -> tuple[list[ProjectFile], str | None]:
    """One page of the project's files by path (bytewise), and the next page's cursor."""
    key = FILE_PAGES.after(after)
    await get_project(session, user_id, project_id)
    rows = await repository.list_files(
        session, user_id, project_id, after=key[0] if key else None, limit=limit + 1
    )
    return FILE_PAGES.page(rows, limit)


# --- secrets ----------------------------------------------------------------------------------


async def put_secret(
    session: AsyncSession,
    keyring: Keyring,
    user_id: uuid.UUID,
    project_id: uuid.UUID,
    name: str,
    value: str,
    *,
    max_secrets: int = DEFAULT_MAX_SECRETS,
    max_total_bytes: int = DEFAULT_MAX_SECRET_BYTES,
) -> SecretOut:
    """Seal the value (AES-256-GCM, bound to this project, name and owner: R2) and store it.

    The project keeps at most `max_secrets` secrets (409) whose values add up to at most
    `max_total_bytes` (413): each of its jobs gets them all in its environment, and the log
    redactor holds them all while it runs. The project row stays locked until commit, so
    concurrent writes are checked one after the other.

    A value is masked in the logs only once it is about to become a secret (valid, within
    64 KiB and the project's limits, for a project of the caller's), and only while it is
    sealed and stored (R3): a refused request leaves nothing behind in the redactor.
    """
    name = rules.check_secret_name(name)
    rules.check_secret_value(value)
    await get_project(session, user_id, project_id, lock=True)
    count, used = await repository.secret_usage_except(session, user_id, project_id, name)
    if count + 1 > max_secrets:
        raise Conflict(
            f"A project holds at most {max_secrets} secrets; delete one before adding another."
        )
    if used + len(value.encode("utf-8")) > max_total_bytes:
        raise PayloadTooLarge(
            f"The project's secret values would add up to more than {max_total_bytes} bytes."
        )
    with SensitiveHold(value):
        sealed = keyring.seal_text(value, bindings.project_secret(project_id, name, user_id))
        created_at, updated_at = await repository.upsert_secret(
            session, user_id, project_id, name, sealed
        )
    return SecretOut(name=name, created_at=created_at, updated_at=updated_at)


async def list_secrets(
    session: AsyncSession, user_id: uuid.UUID, project_id: uuid.UUID, after: str | None, limit: int
) -> tuple[list[SecretOut], str | None]:
    """Names and times only: sealed values are not even loaded (R3)."""
    key = SECRET_PAGES.after(after)
    await get_project(session, user_id, project_id)
    rows = await repository.list_secrets(
        session, user_id, project_id, after=key[0] if key else None, limit=limit + 1
    )
    page, next_cursor = SECRET_PAGES.page(rows, limit)
    return [SecretOut.model_validate(s) for s in page], next_cursor


async def delete_secret(
    session: AsyncSession, user_id: uuid.UUID, project_id: uuid.UUID, name: str
) -> None:
    """Delete one secret; a name that cannot exist (bad syntax, reserved) is simply 404."""
    await get_project(session, user_id, project_id, lock=True)
    if not await repository.delete_secret(session, user_id, project_id, name):
        raise NotFound("secret")


async def secret_environment(
    session: AsyncSession,
    keyring: Keyring,
    user_id: uuid.UUID,
    project_id: uuid.UUID,
    hold: SensitiveHold,
) -> dict[str, str]:
    """The project's secrets as environment variables, opened in memory only (C4, R3).

    For the job runner at container-create time. Each value is added to `hold` as it is
    opened, so logs mask it until the caller releases the hold when the job has ended.
    """
    await get_project(session, user_id, project_id)
    environment: dict[str, str] = {}
    for sealed in await repository.sealed_secrets(session, user_id, project_id):
        environment[sealed.name] = hold.add(
            keyring.open_text(
                sealed.value_enc, bindings.project_secret(project_id, sealed.name, user_id)
            )
        )
    return environment
