"""LinkedIn connections: the only LinkedIn data the product keeps, with tokens in the vault.

Callers get a `StoredConnection` whose token fields are plaintext in memory only and never
shown by its repr. Writing goes through `save_connection`, which encrypts before the row is
flushed; deleting goes through `delete_connection`, which removes the row and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.models import LinkedInConnection
from storage.posts import PostingRights
from storage.vault import TokenContext, TokenVault

KIND = "linkedin_connection"

# The exact list of LinkedIn data the product stores; the transparency page shows it.
STORED_LINKEDIN_FIELDS: tuple[tuple[str, str], ...] = (
    ("access_token", "the access token, encrypted with AES-256-GCM, and its expiry time"),
    ("refresh_token", "the refresh token if LinkedIn issued one, encrypted with AES-256-GCM, and its expiry time"),
    ("scopes", "the permissions (scopes) you granted"),
    ("member_urn", "your member URN, the ID LinkedIn gives our app for you"),
    ("member_name", "your first and last name, to show whose account is connected"),
    ("organization_ids", "the IDs of the LinkedIn pages you may post for"),
)


def token_context(team_id: str, user_id: str, field_name: str) -> TokenContext:
    return TokenContext(kind=KIND, field=field_name, team_id=team_id, user_id=user_id)


@dataclass
class StoredConnection:
    """A decrypted view of a connection row."""

    team_id: str
    user_id: str
    member_urn: str
    member_name: str
    access_token: str = field(repr=False)
    access_token_expires_at: datetime | None
    refresh_token: str | None = field(repr=False)
    refresh_token_expires_at: datetime | None
    scopes: frozenset[str]
    organization_ids: tuple[str, ...]
    connected_at: datetime | None = None
    reminded_for_expiry_at: datetime | None = None

    @property
    def member_id(self) -> str:
        return self.member_urn.rsplit(":", 1)[-1]


def save_connection(session: Session, vault: TokenVault, connection: StoredConnection, now: datetime) -> None:
    """Insert or replace the user's connection; tokens are encrypted before the row is written."""
    row = session.scalar(
        select(LinkedInConnection).where(
            LinkedInConnection.team_id == connection.team_id,
            LinkedInConnection.user_id == connection.user_id,
        )
    )
    if row is None:
        row = LinkedInConnection(team_id=connection.team_id, user_id=connection.user_id, connected_at=now)
        session.add(row)
    else:
        row.connected_at = connection.connected_at or row.connected_at
    team, user = connection.team_id, connection.user_id
    row.member_urn = connection.member_urn
    row.member_name = connection.member_name
    row.access_token = vault.encrypt(connection.access_token, token_context(team, user, "access_token"))
    row.access_token_expires_at = connection.access_token_expires_at
    row.refresh_token = (
        vault.encrypt(connection.refresh_token, token_context(team, user, "refresh_token"))
        if connection.refresh_token
        else None
    )
    row.refresh_token_expires_at = connection.refresh_token_expires_at if connection.refresh_token else None
    row.scopes = sorted(connection.scopes)
    row.organization_ids = list(connection.organization_ids)
    row.reminded_for_expiry_at = connection.reminded_for_expiry_at
    row.updated_at = now
    session.flush()


def _decrypt(vault: TokenVault, row: LinkedInConnection) -> StoredConnection:
    team, user = row.team_id, row.user_id
    refresh = (
        vault.decrypt(row.refresh_token, token_context(team, user, "refresh_token"))
        if row.refresh_token is not None
        else None
    )
    return StoredConnection(
        team_id=team,
        user_id=user,
        member_urn=row.member_urn,
        member_name=row.member_name,
        access_token=vault.decrypt(row.access_token, token_context(team, user, "access_token")),
        access_token_expires_at=row.access_token_expires_at,
        refresh_token=refresh,
        refresh_token_expires_at=row.refresh_token_expires_at,
        scopes=frozenset(row.scopes or ()),
        organization_ids=tuple(row.organization_ids or ()),
        connected_at=row.connected_at,
        reminded_for_expiry_at=row.reminded_for_expiry_at,
    )


def load_connection(session: Session, vault: TokenVault, team_id: str, user_id: str) -> StoredConnection | None:
    row = session.scalar(
        select(LinkedInConnection).where(
            LinkedInConnection.team_id == team_id, LinkedInConnection.user_id == user_id
        )
    )
    return None if row is None else _decrypt(vault, row)


def connection_summary(session: Session, team_id: str, user_id: str) -> LinkedInConnection | None:
    """Return the row without decrypting anything, for showing status."""
    return session.scalar(
        select(LinkedInConnection).where(
            LinkedInConnection.team_id == team_id, LinkedInConnection.user_id == user_id
        )
    )


def posting_rights(session: Session, team_id: str, user_id: str) -> PostingRights | None:
    """Return what the user's LinkedIn connection allows, without decrypting any token."""
    row = connection_summary(session, team_id, user_id)
    if row is None:
        return None
    return PostingRights(scopes=frozenset(row.scopes or ()), organization_ids=tuple(row.organization_ids or ()))


def delete_connection(session: Session, team_id: str, user_id: str) -> bool:
    """Delete the user's connection row. Return whether one existed."""
    result = session.execute(
        delete(LinkedInConnection).where(
            LinkedInConnection.team_id == team_id, LinkedInConnection.user_id == user_id
        )
    )
    return result.rowcount > 0


def rotate_connection_keys(session: Session, vault: TokenVault) -> int:
    """Re-encrypt every connection token that is not under the current key. Return the count."""
    count = 0
    for row in session.scalars(select(LinkedInConnection)):
        for field_name in ("access_token", "refresh_token"):
            blob = getattr(row, field_name)
            if blob is not None and vault.needs_rotation(blob):
                context = token_context(row.team_id, row.user_id, field_name)
                setattr(row, field_name, vault.reencrypt(blob, context))
                count += 1
    session.flush()
    return count
