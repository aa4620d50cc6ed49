"""The dashboard's role matrix (issue 18 item 3): every route, who may use it, and whether it
needs a step-up (a second factor proved within `admin_step_up_s`). The routes read their gate
from here (`access.gate`), docs/admin.md holds `markdown()` of it (a test keeps the two the
same) and tests/admin/test_dashboard_matrix.py drives every route with every kind of caller
against it."""

from __future__ import annotations

from dataclasses import dataclass

from offcoder.auth.models import Role

SUPPORT, FINANCE, SAFETY, SUPER = Role.support, Role.finance, Role.safety, Role.superadmin
EVERY_ROLE = frozenset(Role)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    roles: frozenset[Role]
    purpose: str
    step_up: bool = False

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    def admits(self, held: frozenset[Role]) -> bool:
        """superadmin holds everything; other roles only what they are listed for."""
        return bool(held & (self.roles | {SUPER}))


ROUTES = (
    Route("GET", "/", EVERY_ROLE, "Home: what you may do here"),
    Route("GET", "/users", frozenset({SUPPORT}), "Find users by e-mail, handle or id"),
    Route("GET", "/users/{user_id}", frozenset({SUPPORT}), "A user (no secrets, no files)"),
    Route("POST", "/users/{user_id}/suspend", frozenset({SUPPORT}), "Suspend a user"),
    Route("POST", "/users/{user_id}/unsuspend", frozenset({SUPPORT}), "Restore a user"),
    Route(
        "POST",
        "/users/{user_id}/roles",
        frozenset({SUPER}),
        "Grant or revoke an admin role",
        step_up=True,
    ),
    Route("GET", "/keys", EVERY_ROLE, "Your security keys (WebAuthn)"),
    Route("POST", "/keys/options", EVERY_ROLE, "Start adding a security key"),
    Route("POST", "/keys", EVERY_ROLE, "Add a security key"),
    Route("GET", "/audit", frozenset({SUPER}), "The audit log, filtered"),
    Route("POST", "/audit/verify", frozenset({SUPER}), "Verify the audit chain"),
)

BY_KEY = {route.key: route for route in ROUTES}

ROLE_ORDER = (SUPPORT, FINANCE, SAFETY, SUPER)


def markdown() -> str:
    """The matrix as the Markdown table docs/admin.md holds."""
    header = "| Route | " + " | ".join(r.value for r in ROLE_ORDER) + " | step-up |"
    rule = "|---|" + "---|" * len(ROLE_ORDER) + "---|"
    rows = [
        f"| `{route.key}` | "
        + " | ".join("yes" if route.admits(frozenset({role})) else "no" for role in ROLE_ORDER)
        + f" | {'yes' if route.step_up else 'no'} |"
        for route in ROUTES
    ]
    return "\n".join([header, rule, *rows])
