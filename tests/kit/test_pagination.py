"""One keyset cursor for every listing: the cursors clients already hold still read back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from offcoder.jobs.service import JOB_PAGES
from offcoder.kit.pagination import bad_cursor
from offcoder.problems import InvalidInput
from offcoder.projects.service import FILE_PAGES, PROJECT_PAGES, SECRET_PAGES
from offcoder.wallet.service import LEDGER_PAGES

# Written by the cursor code that shipped before `kit.pagination` (projects/cursor.encode).
ISSUED_PROJECTS = (
    "eyJrIjoicHJvamVjdHMiLCJ2IjpbIjIwMjYtMTItMDdUMTA6MjE6MjAuMTIzNDU2KzAwOjAwIiwiMGIwZTVjMmEtOG"
    "EzZS00YTU3LTlkNTktM2YxYzBlNmY3YTEwIl19"
)
ISSUED_JOBS = (
    "eyJrIjoiam9icyIsInYiOlsiMjAyNi0xMi0wN1QxMDoyMToyMCswMDowMCIsIjZmMWQyYzNiLTFhMmItNGMzZC04ZT"
    "lmLTBhMWIyYzNkNGU1ZiJdfQ"
)
ISSUED_LEDGER = "eyJrIjoibGVkZ2VyIiwidiI6WyI0MiJdfQ"
ISSUED_FILES = "eyJrIjoiZmlsZXMiLCJ2IjpbInNyYy9tYWluLnB5Il19"
ISSUED_SECRETS = "eyJrIjoic2VjcmV0cyIsInYiOlsiQVBJX0tFWSJdfQ"


def test_cursors_issued_before_read_back_to_the_same_key() -> None:
    project_key = (
        datetime(2026, 12, 7, 10, 21, 20, 123456, tzinfo=UTC),
        uuid.UUID("0b0e5c2a-8a3e-4a57-9d59-3f1c0e6f7a10"),
    )
    job_key = (
        datetime(2026, 12, 7, 10, 21, 20, tzinfo=UTC),
        uuid.UUID("6f1d2c3b-1a2b-4c3d-8e9f-0a1b2c3d4e5f"),
    )
    assert PROJECT_PAGES.after(ISSUED_PROJECTS) == project_key
    assert JOB_PAGES.after(ISSUED_JOBS) == job_key
    assert FILE_PAGES.after(ISSUED_FILES) == ("src/main.py",)
    assert SECRET_PAGES.after(ISSUED_SECRETS) == ("API_KEY",)
    assert LEDGER_PAGES.after(ISSUED_LEDGER) == (42,)


def test_a_page_issues_the_same_cursor_as_before() -> None:
    created = datetime(2026, 12, 7, 10, 21, 20, 123456, tzinfo=UTC)
    last = SimpleNamespace(created_at=created, id=uuid.UUID("0b0e5c2a-8a3e-4a57-9d59-3f1c0e6f7a10"))
    newer = SimpleNamespace(created_at=created, id=uuid.uuid4())
    page, next_cursor = PROJECT_PAGES.page([newer, last, SimpleNamespace()], 2)  # type: ignore[list-item]
    assert page == [newer, last]
    assert next_cursor == ISSUED_PROJECTS
    assert LEDGER_PAGES.page([SimpleNamespace(ledger_version=42)] * 2, 1)[1] == ISSUED_LEDGER  # type: ignore[list-item]
    assert FILE_PAGES.page([SimpleNamespace(path="src/main.py")] * 2, 1)[1] == ISSUED_FILES  # type: ignore[list-item]


def test_the_last_page_has_no_cursor() -> None:
    rows = [SimpleNamespace(name="A"), SimpleNamespace(name="B")]
    assert SECRET_PAGES.page(rows, 2) == (rows, None)  # type: ignore[arg-type]
    assert SECRET_PAGES.page([], 2) == ([], None)


@pytest.mark.parametrize(
    "cursor",
    [
        ISSUED_JOBS,  # another listing's cursor
        "garbage",
        "",
        "e30",
        "%%%",
        # {"k":"projects","v":["2026-12-07T10:21:20","0b0e..."]}: a naive time was never issued
        "eyJrIjoicHJvamVjdHMiLCJ2IjpbIjIwMjYtMTItMDdUMTA6MjE6MjAiLCIwYjBlNWMyYS04YTNlLTRhNTct"
        "OWQ1OS0zZjFjMGU2ZjdhMTAiXX0",
        # {"k":"projects","v":["yesterday","not-a-uuid"]}
        "eyJrIjoicHJvamVjdHMiLCJ2IjpbInllc3RlcmRheSIsIm5vdC1hLXV1aWQiXX0",
    ],
)
def test_a_foreign_or_broken_cursor_is_the_listings_422(cursor: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        PROJECT_PAGES.after(cursor)
    assert refused.value.body() == bad_cursor().body()
