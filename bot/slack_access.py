"""Access to Slack's Web API outside a Slack request: DMs, Home refreshes, time zones.

The publisher, reminders and task handlers run in the worker process or on task threads,
where Bolt's per-request `client` does not exist. `SlackAccess.client_for(team_id)` builds a
WebClient for a workspace: the bot token of a single-workspace install, or the bot token
that the installation store decrypts in multi-workspace mode. Every client retries Slack's
429 responses after Retry-After and retries dropped connections.

This module must never log a token, and never call Slack from code that still has to ack.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.settings import Settings
from storage.db import transaction
from storage.installations import find_installation
from storage.models import SlackUser

logger = logging.getLogger(__name__)

DEFAULT_TIMEZONE = "UTC"
# How long a user's Slack time zone is trusted before users.info is asked again.
TIMEZONE_TTL = timedelta(hours=12)


class NotInstalled(Exception):
    """Raised when a workspace has no installation (multi-workspace mode) or no bot token."""


def retry_handlers() -> list:
    """Return the retry handlers every WebClient of the product uses."""
    return [
        RateLimitErrorRetryHandler(max_retry_count=2),
        ConnectionErrorRetryHandler(max_retry_count=1),
    ]


def make_web_client(settings: Settings, token: str | None = None) -> WebClient:
    """Build a WebClient for `settings.slack_api_base`, with the product's retry handlers."""
    return WebClient(token=token, base_url=settings.slack_api_base, retry_handlers=retry_handlers())


def get_or_create_slack_user(session, team_id: str, user_id: str) -> SlackUser:
    row = session.scalar(select(SlackUser).where(SlackUser.team_id == team_id, SlackUser.user_id == user_id))
    if row is None:
        row = SlackUser(team_id=team_id, user_id=user_id)
        session.add(row)
        session.flush()
    return row


class SlackAccess:
    """Slack Web API clients per workspace, and the calls other modules share."""

    def __init__(self, services):
        self.services = services
        self.settings: Settings = services.settings
        self._single_client: WebClient | None = None
        if not self.settings.multi_workspace and self.settings.slack_bot_token:
            self._single_client = make_web_client(self.settings, self.settings.slack_bot_token)

    def client_for(self, team_id: str, enterprise_id: str | None = None) -> WebClient:
        """Return a WebClient carrying the bot token of `team_id`. Raises NotInstalled."""
        if self._single_client is not None:
            return self._single_client

        # NOTE: org-wide (Enterprise Grid) installs are stored without a team and are not
        # found by team_id here; the manifest leaves org_deploy_enabled off.
        with self.services.sessions() as session:
            installation = find_installation(
                session, self.services.vault, enterprise_id=enterprise_id, team_id=team_id
            )
        if installation is None or not installation.bot_token:
            raise NotInstalled(f"workspace {team_id} has no installation with a bot token")
        return make_web_client(self.settings, installation.bot_token)

    def dm(self, team_id: str, user_id: str, text: str, blocks: list | None = None) -> tuple[str, str]:
        """Send a DM to `user_id` from the bot and return (channel, ts)."""
        client = self.client_for(team_id)
        arguments = {"channel": user_id, "text": text}
        if blocks is not None:
            arguments["blocks"] = blocks
        response = client.chat_postMessage(**arguments)
        return response["channel"], response["ts"]

    def user_timezone(self, team_id: str, user_id: str) -> str:
        """Return the user's IANA time zone from users.info, cached in slack_users.

        Falls back to the last cached zone, or to UTC, when Slack cannot be asked.
        """
        now = self.services.clock()
        with self.services.sessions() as session:
            row = session.scalar(select(SlackUser).where(SlackUser.team_id == team_id, SlackUser.user_id == user_id))
            cached = row.tz if row is not None else None
            fresh = row is not None and row.tz and row.tz_checked_at and now - row.tz_checked_at < TIMEZONE_TTL
        if fresh:
            return cached

        timezone = self._fetch_timezone(team_id, user_id)
        if timezone is None:
            return cached or DEFAULT_TIMEZONE

        try:
            with transaction(self.services.sessions) as session:
                row = get_or_create_slack_user(session, team_id, user_id)
                row.tz = timezone
                row.tz_checked_at = now
        except IntegrityError:
            # Another thread created the user's row at the same moment; the zone is the same.
            logger.info("time zone of team %s user %s was cached by a concurrent request", team_id, user_id)
        return timezone

    def _fetch_timezone(self, team_id: str, user_id: str) -> str | None:
        try:
            response = self.client_for(team_id).users_info(user=user_id)
        except (SlackApiError, NotInstalled, OSError) as error:
            logger.warning("users.info failed for team %s user %s: %s", team_id, user_id, type(error).__name__)
            return None
        timezone = (response.get("user") or {}).get("tz")
        return timezone if isinstance(timezone, str) and timezone else None
