"""Typed status columns: rows hold enum members, the database keeps the VARCHAR it had."""

from __future__ import annotations

import pytest
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateTable

from offcoder.jobs.models import Job, JobStatus
from offcoder.kit.columns import StrEnumColumn
from offcoder.runtime.policy import NetworkMode

DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]


def test_the_jobs_table_is_built_as_the_migrations_built_it() -> None:
    ddl = str(CreateTable(Job.__table__).compile(dialect=DIALECT))  # type: ignore[arg-type]
    # 0002_jobs.py: sa.String(length=16) for both, no CHECK constraint.
    assert "status VARCHAR(16) NOT NULL" in ddl
    assert "network VARCHAR(16) NOT NULL" in ddl
    assert "CHECK" not in ddl


def test_values_travel_as_their_strings_and_come_back_as_members() -> None:
    column = StrEnumColumn(JobStatus, 16)
    assert column.process_bind_param(JobStatus.timed_out, DIALECT) == "timed_out"
    assert column.process_bind_param("queued", DIALECT) == "queued"
    assert column.process_result_value("timed_out", DIALECT) is JobStatus.timed_out
    assert column.process_result_value(None, DIALECT) is None
    assert StrEnumColumn(NetworkMode, 16).process_result_value("none", DIALECT) is NetworkMode.none


def test_a_value_outside_the_enum_is_never_written() -> None:
    with pytest.raises(ValueError, match="lost"):
        StrEnumColumn(JobStatus, 16).process_bind_param("lost", DIALECT)
