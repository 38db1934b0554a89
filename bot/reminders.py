"""Reminders to reconnect LinkedIn before its tokens expire.

LinkedIn access tokens last 60 days and many apps get no refresh token, so each owner is
told in Slack `RECONNECT_REMINDER_DAYS` before the expiry that matters, or at once when a
scheduled post falls after it, with a one-click Connect button. Each expiry is reminded of
once: `LinkedInConnection.reminded_for_expiry_at` records which one was.

This module must never decrypt or log a token; it reads expiry times only.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from bot import notify
from bot.views import notices
from storage import posts as lifecycle
from storage.db import transaction

logger = logging.getLogger(__name__)


def send_expiry_reminders(services, *, team_id: str | None = None, user_id: str | None = None) -> int:
    """DM every owner due a reconnect reminder and record it. Return how many were sent.

    With `team_id` and `user_id`, only that owner is considered: the approval listeners
    call it so that a post scheduled after the token's expiry is reminded of at once.
    """
    now = services.clock()
    ahead = timedelta(days=services.settings.reminder_days)
    with services.sessions() as session:
        due = []
        for connection in lifecycle.connections_to_remind(session, now, ahead):
            if user_id is not None and (connection.team_id, connection.user_id) != (team_id, user_id):
                continue
            expires_at = lifecycle.reminder_expiry(connection)
            access_expires_at = connection.access_token_expires_at
            late_posts = 0
            if connection.refresh_token is None and access_expires_at is not None:
                late_posts = len(lifecycle.scheduled_after(session, connection.team_id, connection.user_id, access_expires_at))
            due.append((connection.id, connection.team_id, connection.user_id, expires_at, late_posts))

    sent = 0
    for connection_id, owner_team_id, owner_user_id, expires_at, late_posts in due:
        text, blocks = notices.expiry_reminder(expires_at, late_posts)
        if notify.dm(services, owner_team_id, owner_user_id, text, blocks) is None:
            continue  # Logged by notify.dm; the next run tries again.
        with transaction(services.sessions) as session:
            lifecycle.mark_expiry_reminded(session, connection_id, expires_at)
        logger.info("reminded team %s user %s to reconnect LinkedIn before %s (%d post(s) due after it)", owner_team_id, owner_user_id, expires_at.isoformat(), late_posts)
        sent += 1
    return sent
