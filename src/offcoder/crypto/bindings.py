"""Where every sealed column lives, and the binding (AAD) of each of its values (R2).

Sealing code and `offcoder keys rotate` both take bindings from here, so a value is always
opened with exactly the binding it was sealed with.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from offcoder.crypto.keyring import Binding


def project_secret(project_id: uuid.UUID, name: str, user_id: uuid.UUID) -> Binding:
    return Binding("project_secrets", "value_enc", f"{project_id}:{name}", user_id)


def ai_key(provider: str, user_id: uuid.UUID) -> Binding:
    return Binding("ai_keys", "key_enc", provider, user_id)


def provider_token(column: str, identity_id: uuid.UUID, user_id: uuid.UUID) -> Binding:
    assert column in ("access_token_enc", "refresh_token_enc")
    return Binding("oauth_identities", column, str(identity_id), user_id)


def mfa_totp_secret(user_id: uuid.UUID) -> Binding:
    return Binding("mfa_totp", "secret_enc", str(user_id), user_id)


@dataclass(frozen=True)
class SealedColumn:
    """A column of sealed values: its table, primary key columns and how to bind a row."""

    table: str
    column: str
    key_columns: tuple[str, ...]


SEALED_COLUMNS: tuple[SealedColumn, ...] = (
    SealedColumn("project_secrets", "value_enc", ("project_id", "name")),
    SealedColumn("ai_keys", "key_enc", ("user_id", "provider")),
    SealedColumn("oauth_identities", "access_token_enc", ("id",)),
    SealedColumn("oauth_identities", "refresh_token_enc", ("id",)),
    SealedColumn("mfa_totp", "secret_enc", ("user_id",)),
)


def binding_for(table: str, column: str, row: dict[str, object]) -> Binding:
    """The binding of one row of a sealed column (row holds its key columns and user_id)."""
    user_id = row["user_id"]
    assert isinstance(user_id, uuid.UUID)
    if table == "project_secrets":
        project_id = row["project_id"]
        assert isinstance(project_id, uuid.UUID)
        return project_secret(project_id, str(row["name"]), user_id)
    if table == "ai_keys":
        return ai_key(str(row["provider"]), user_id)
    if table == "oauth_identities":
        identity_id = row["id"]
        assert isinstance(identity_id, uuid.UUID)
        return provider_token(column, identity_id, user_id)
    if table == "mfa_totp":
        return mfa_totp_secret(user_id)
    raise KeyError(f"{table}.{column} is not a sealed column")
