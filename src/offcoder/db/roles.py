"""The three database roles and the URLs the server connects with (D1).

- owner: owns every table, runs migrations, never used to serve requests;
- app: serves user requests, owns nothing, has NOBYPASSRLS, so forced RLS applies to it;
- system: workers, webhooks, sign-in and admin code; BYPASSRLS, reached only through
  `offcoder.db.engine.Database.system_session`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import URL, make_url


@dataclass(frozen=True)
class RoleNames:
    owner: str
    app: str
    system: str

    @classmethod
    def from_prefix(cls, prefix: str) -> RoleNames:
        if not prefix.replace("_", "").isalnum() or not prefix[0].isalpha():
            raise ValueError(f"role prefix {prefix!r} must be letters, digits and underscores")
        return cls(owner=f"{prefix}_owner", app=f"{prefix}_app", system=f"{prefix}_system")


def async_url(url: str | URL) -> URL:
    """The URL with the async psycopg driver, whatever scheme it was written with."""
    parsed = make_url(url) if isinstance(url, str) else url
    return parsed.set(drivername="postgresql+psycopg")


def role_url(admin_url: str | URL, role: str, password: str) -> URL:
    """Connect to the same server and database as `admin_url`, as `role`."""
    return async_url(admin_url).set(username=role, password=password)
