"""D1: row-level security is forced on every user table and scopes rows to the caller."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from offcoder.db.bootstrap import PreparedDatabase, sync_url
from offcoder.db.engine import Database

pytestmark = [pytest.mark.db, pytest.mark.promise("D1")]

# Tables that exist for the database's own bookkeeping and hold no user data.
NON_USER_TABLES = {"alembic_version"}


def catalog(prepared: PreparedDatabase, sql: str) -> list[tuple[object, ...]]:
    engine = create_engine(sync_url(prepared.admin_url))
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), {"app": prepared.roles.app})]
    finally:
        engine.dispose()


async def new_user(db: Database) -> uuid.UUID:
    user_id = uuid.uuid4()
    async with db.system_session() as s:
        await s.execute(text("INSERT INTO users (id) VALUES (:id)"), {"id": user_id})
    return user_id


async def new_project(db: Database, user_id: uuid.UUID, name: str) -> uuid.UUID:
    project_id = uuid.uuid4()
    async with db.user_session(user_id) as s:
        await s.execute(
            text("INSERT INTO projects (id, user_id, name, slug) VALUES (:id, :u, :n, :n)"),
            {"id": project_id, "u": user_id, "n": name},
        )
    return project_id


def test_every_table_forces_row_level_security(prepared: PreparedDatabase) -> None:
    rows = catalog(
        prepared,
        """
        SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
        """,
    )
    assert rows, "no tables found: the migrations did not run"
    unprotected = [
        name
        for name, enabled, forced in rows
        if name not in NON_USER_TABLES and not (enabled and forced)
    ]
    assert unprotected == []


def test_application_role_owns_nothing_and_cannot_bypass(prepared: PreparedDatabase) -> None:
    owned = catalog(
        prepared,
        """
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND pg_get_userbyid(c.relowner) = :app
        UNION ALL
        SELECT p.proname FROM pg_proc p WHERE pg_get_userbyid(p.proowner) = :app
        UNION ALL
        SELECT n.nspname FROM pg_namespace n WHERE pg_get_userbyid(n.nspowner) = :app
        """,
    )
    assert owned == []
    [(bypass, superuser, createrole, createdb)] = catalog(
        prepared,
        "SELECT rolbypassrls, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles"
        " WHERE rolname = :app",
    )
    assert (bypass, superuser, createrole, createdb) == (False, False, False, False)


def test_every_user_table_has_a_policy_for_the_application_role(prepared: PreparedDatabase) -> None:
    granted = catalog(
        prepared,
        """
        SELECT DISTINCT table_name FROM information_schema.role_table_grants
        WHERE grantee = :app AND table_schema = 'public'
        """,
    )
    with_policy = catalog(
        prepared,
        "SELECT DISTINCT tablename FROM pg_policies"
        " WHERE schemaname = 'public' AND :app = ANY(roles)",
    )
    # A table the app role may touch but that has no policy would deny everything, which is
    # safe; a table with a grant and RLS disabled is what the first test catches. Here we make
    # sure each granted table is reachable through a policy, so the grants are meaningful.
    assert {t for (t,) in granted} <= {t for (t,) in with_policy}


async def test_application_role_cannot_create_objects(context) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DBAPIError, match="permission denied"):
        async with context.database.anonymous_session() as s:
            await s.execute(text("CREATE TABLE sneaky (id int)"))


async def test_unfiltered_select_sees_only_the_callers_rows(context) -> None:  # type: ignore[no-untyped-def]
    db: Database = context.database
    alice, bob = await new_user(db), await new_user(db)
    await new_project(db, alice, "alice-one")
    await new_project(db, alice, "alice-two")
    bobs = await new_project(db, bob, "bob-one")

    async with db.user_session(bob) as s:
        # No WHERE clause at all: the forgotten filter is exactly what RLS must catch.
        rows = (await s.execute(text("SELECT id, user_id FROM projects"))).all()
        users = (await s.execute(text("SELECT id FROM users"))).all()
    assert [(r.id, r.user_id) for r in rows] == [(bobs, bob)]
    assert [u.id for u in users] == [bob]


async def test_writes_are_checked_against_the_caller(context) -> None:  # type: ignore[no-untyped-def]
    db: Database = context.database
    alice, bob = await new_user(db), await new_user(db)
    alices = await new_project(db, alice, "mine")
    with pytest.raises(DBAPIError):
        async with db.user_session(bob) as s:
            await s.execute(
                text("INSERT INTO projects (id, user_id, name, slug) VALUES (:id, :u, 'x', 'x')"),
                {"id": uuid.uuid4(), "u": alice},
            )
    async with db.user_session(bob) as s:
        changed = await s.execute(
            text("UPDATE projects SET name = 'stolen' WHERE id = :id"), {"id": alices}
        )
        deleted = await s.execute(text("DELETE FROM projects WHERE id = :id"), {"id": alices})
    assert (changed.rowcount, deleted.rowcount) == (0, 0)


async def test_no_user_set_means_no_rows(context) -> None:  # type: ignore[no-untyped-def]
    db: Database = context.database
    await new_project(db, await new_user(db), "someone")
    async with db.anonymous_session() as s:
        assert (await s.execute(text("SELECT count(*) FROM projects"))).scalar() == 0
        assert (await s.execute(text("SELECT count(*) FROM users"))).scalar() == 0


async def test_interleaved_users_on_one_pooled_connection_do_not_leak(
    prepared: PreparedDatabase,
) -> None:
    """One pooled connection serves alice, bob and a caller with no user: nothing carries over."""
    db = Database(prepared.app_url, prepared.system_url, pool_size=1, max_overflow=0)
    try:
        alice, bob = await new_user(db), await new_user(db)
        await new_project(db, alice, "a")
        await new_project(db, bob, "b")

        async def look(s: AsyncSession) -> tuple[object, list[uuid.UUID]]:
            pid = (await s.execute(text("SELECT pg_backend_pid()"))).scalar()
            owners = (
                (await s.execute(text("SELECT DISTINCT user_id FROM projects"))).scalars().all()
            )
            return pid, list(owners)

        seen = []
        for user in (alice, bob, None, alice, None, bob):
            if user is None:
                async with db.anonymous_session() as s:
                    seen.append((user, *await look(s)))
            else:
                async with db.user_session(user) as s:
                    seen.append((user, *await look(s)))
        assert len({pid for _, pid, _ in seen}) == 1, "the test must reuse one pooled connection"
        for user, _, owners in seen:
            assert owners == ([] if user is None else [user])

        # A transaction that fails midway leaves nothing behind for the next one either.
        with pytest.raises(DBAPIError):
            async with db.user_session(alice) as s:
                await s.execute(text("SELECT 1/0"))
        async with db.anonymous_session() as s:
            assert (await look(s))[1] == []
    finally:
        await db.dispose()
