"""Slack installations of multi-workspace mode, with bot tokens encrypted by the vault.

`bot.installation_store` adapts these functions to slack-sdk's InstallationStore interface.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.models import USER_DATA_MODELS, ProcessedEvent, SlackInstallation
from storage.vault import TokenContext, TokenVault

KIND = "slack_installation"


def _context(row_team: str, enterprise_id: str, field_name: str) -> TokenContext:
    return TokenContext(kind=KIND, field=field_name, team_id=row_team or enterprise_id, user_id=enterprise_id)


@dataclass
class StoredInstallation:
    client_id: str
    enterprise_id: str
    team_id: str
    is_enterprise_install: bool
    bot_token: str | None = field(repr=False)
    bot_refresh_token: str | None = field(repr=False)
    bot_token_expires_at: datetime | None
    bot_id: str | None = None
    bot_user_id: str | None = None
    bot_scopes: str | None = None
    app_id: str | None = None
    team_name: str | None = None
    enterprise_name: str | None = None
    installer_user_id: str | None = None
    installed_at: datetime | None = None


def save_installation(session: Session, vault: TokenVault, installation: StoredInstallation, now: datetime) -> None:
    row = session.scalar(
        select(SlackInstallation).where(
            SlackInstallation.enterprise_id == installation.enterprise_id,
            SlackInstallation.team_id == installation.team_id,
        )
    )
    if row is None:
        row = SlackInstallation(enterprise_id=installation.enterprise_id, team_id=installation.team_id)
        session.add(row)
    team, enterprise = installation.team_id, installation.enterprise_id
    row.client_id = installation.client_id
    row.app_id = installation.app_id
    row.enterprise_name = installation.enterprise_name
    row.team_name = installation.team_name
    row.is_enterprise_install = installation.is_enterprise_install
    row.bot_id = installation.bot_id
    row.bot_user_id = installation.bot_user_id
    row.bot_scopes = installation.bot_scopes
    row.bot_token = vault.encrypt(installation.bot_token, _context(team, enterprise, "bot_token")) if installation.bot_token else None
    row.bot_refresh_token = (
        vault.encrypt(installation.bot_refresh_token, _context(team, enterprise, "bot_refresh_token"))
        if installation.bot_refresh_token
        else None
    )
    row.bot_token_expires_at = installation.bot_token_expires_at
    row.installer_user_id = installation.installer_user_id
    row.installed_at = installation.installed_at or now
    session.flush()


def find_installation(session: Session, vault: TokenVault, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool = False) -> StoredInstallation | None:
    enterprise = enterprise_id or ""
    team = "" if is_enterprise_install else (team_id or "")
    row = session.scalar(
        select(SlackInstallation).where(SlackInstallation.enterprise_id == enterprise, SlackInstallation.team_id == team)
    )
    if row is None:
        return None
    return StoredInstallation(
        client_id=row.client_id,
        enterprise_id=row.enterprise_id,
        team_id=row.team_id,
        is_enterprise_install=row.is_enterprise_install,
        bot_token=vault.decrypt(row.bot_token, _context(row.team_id, row.enterprise_id, "bot_token")) if row.bot_token else None,
        bot_refresh_token=(
            vault.decrypt(row.bot_refresh_token, _context(row.team_id, row.enterprise_id, "bot_refresh_token"))
            if row.bot_refresh_token
            else None
        ),
        bot_token_expires_at=row.bot_token_expires_at,
        bot_id=row.bot_id,
        bot_user_id=row.bot_user_id,
        bot_scopes=row.bot_scopes,
        app_id=row.app_id,
        team_name=row.team_name,
        enterprise_name=row.enterprise_name,
        installer_user_id=row.installer_user_id,
        installed_at=row.installed_at,
    )


def delete_installation(session: Session, *, enterprise_id: str | None, team_id: str | None) -> int:
    result = session.execute(
        delete(SlackInstallation).where(
            SlackInstallation.enterprise_id == (enterprise_id or ""),
            SlackInstallation.team_id == (team_id or ""),
        )
    )
    return result.rowcount


def delete_workspace_data(session: Session, team_id: str) -> dict[str, int]:
    """Delete every row of a workspace: installation, connections, posts, profiles, audit rows."""
    removed: dict[str, int] = {}
    for model in USER_DATA_MODELS:
        result = session.execute(delete(model).where(model.team_id == team_id))
        removed[model.__tablename__] = result.rowcount
    removed["processed_events"] = session.execute(delete(ProcessedEvent).where(ProcessedEvent.team_id == team_id)).rowcount
    removed["slack_installations"] = session.execute(delete(SlackInstallation).where(SlackInstallation.team_id == team_id)).rowcount
    return removed


def rotate_installation_keys(session: Session, vault: TokenVault) -> int:
    count = 0
    for row in session.scalars(select(SlackInstallation)):
        for field_name in ("bot_token", "bot_refresh_token"):
            blob = getattr(row, field_name)
            if blob is not None and vault.needs_rotation(blob):
                setattr(row, field_name, vault.reencrypt(blob, _context(row.team_id, row.enterprise_id, field_name)))
                count += 1
    session.flush()
    return count
