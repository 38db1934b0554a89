"""slack-sdk's InstallationStore and OAuthStateStore on our database (multi-workspace mode).

Bot tokens pass through `storage.installations`, which encrypts them with the vault before
they reach the database. User tokens are never requested, so none is stored. Slack's own
install states are stored as SHA-256 hashes in `slack_oauth_states` and are single-use.

This module must never log a token and never store one in plaintext.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import UTC, datetime, timedelta

from slack_sdk.oauth.installation_store import Bot, Installation, InstallationStore
from slack_sdk.oauth.state_store import OAuthStateStore
from sqlalchemy import delete

from storage.db import transaction
from storage.installations import (
    StoredInstallation,
    delete_installation,
    find_installation,
    save_installation,
)
from storage.models import SlackOAuthState

logger = logging.getLogger(__name__)


def _as_datetime(value) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(float(value), UTC)


class DatabaseInstallationStore(InstallationStore):
    """Bot installations in `slack_installations`, tokens encrypted by the vault."""

    def __init__(self, services, client_id: str):
        self.services = services
        self.client_id = client_id
        self._logger = logger

    @property
    def logger(self):
        return self._logger

    def save(self, installation: Installation) -> None:
        self.save_bot(installation.to_bot())
        logger.info("saved the installation of team %s enterprise %s", installation.team_id, installation.enterprise_id)

    def save_bot(self, bot: Bot) -> None:
        stored = StoredInstallation(
            client_id=self.client_id,
            enterprise_id=bot.enterprise_id or "",
            team_id="" if bot.is_enterprise_install else (bot.team_id or ""),
            is_enterprise_install=bool(bot.is_enterprise_install),
            bot_token=bot.bot_token,
            bot_refresh_token=bot.bot_refresh_token,
            bot_token_expires_at=_as_datetime(bot.bot_token_expires_at),
            bot_id=bot.bot_id,
            bot_user_id=bot.bot_user_id,
            bot_scopes=",".join(bot.bot_scopes or []),
            app_id=bot.app_id,
            team_name=bot.team_name,
            enterprise_name=bot.enterprise_name,
            installed_at=_as_datetime(bot.installed_at),
        )
        with transaction(self.services.sessions) as session:
            save_installation(session, self.services.vault, stored, self.services.clock())

    def find_bot(self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False) -> Bot | None:
        with self.services.sessions() as session:
            stored = find_installation(
                session,
                self.services.vault,
                enterprise_id=enterprise_id,
                team_id=team_id,
                is_enterprise_install=bool(is_enterprise_install),
            )
        if stored is None or not stored.bot_token:
            return None
        return Bot(
            app_id=stored.app_id,
            enterprise_id=stored.enterprise_id or None,
            enterprise_name=stored.enterprise_name,
            team_id=stored.team_id or None,
            team_name=stored.team_name,
            bot_token=stored.bot_token,
            bot_id=stored.bot_id or "",
            bot_user_id=stored.bot_user_id or "",
            bot_scopes=stored.bot_scopes or "",
            bot_refresh_token=stored.bot_refresh_token,
            bot_token_expires_at=stored.bot_token_expires_at,
            is_enterprise_install=stored.is_enterprise_install,
            installed_at=stored.installed_at or self.services.clock(),
        )

    def find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        bot = self.find_bot(enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install)
        if bot is None:
            return None
        # Only bot tokens exist; user_id is accepted for the interface but no user token is kept.
        return Installation(
            app_id=bot.app_id,
            enterprise_id=bot.enterprise_id,
            enterprise_name=bot.enterprise_name,
            team_id=bot.team_id,
            team_name=bot.team_name,
            bot_token=bot.bot_token,
            bot_id=bot.bot_id,
            bot_user_id=bot.bot_user_id,
            bot_scopes=bot.bot_scopes,
            bot_refresh_token=bot.bot_refresh_token,
            bot_token_expires_at=bot.bot_token_expires_at,
            user_id=user_id or "",
            is_enterprise_install=bot.is_enterprise_install,
            installed_at=bot.installed_at,
        )

    def delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        with transaction(self.services.sessions) as session:
            delete_installation(session, enterprise_id=enterprise_id, team_id=team_id)

    def delete_installation(self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None) -> None:
        if user_id is None:
            self.delete_bot(enterprise_id=enterprise_id, team_id=team_id)

    def delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        self.delete_bot(enterprise_id=enterprise_id, team_id=team_id)


def _state_hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


class DatabaseOAuthStateStore(OAuthStateStore):
    """Single-use states of Slack's install flow, kept as hashes with an expiry."""

    def __init__(self, services, expiration_seconds: int = 600):
        self.services = services
        self.expiration = timedelta(seconds=expiration_seconds)
        self._logger = logger

    @property
    def logger(self):
        return self._logger

    def issue(self, *args, **kwargs) -> str:
        state = secrets.token_urlsafe(32)
        with transaction(self.services.sessions) as session:
            session.add(SlackOAuthState(state=_state_hash(state), expires_at=self.services.clock() + self.expiration))
        return state

    def consume(self, state: str) -> bool:
        now = self.services.clock()
        with transaction(self.services.sessions) as session:
            result = session.execute(
                delete(SlackOAuthState).where(
                    SlackOAuthState.state == _state_hash(state or ""), SlackOAuthState.expires_at > now
                )
            )
            session.execute(delete(SlackOAuthState).where(SlackOAuthState.expires_at <= now))
        return result.rowcount == 1
