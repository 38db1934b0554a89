"""Deletion of bookkeeping rows that have served their purpose, so tables stay small."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from storage.events import KEEP_EVENTS_FOR, forget_events_before
from storage.models import OAuthState, SlackOAuthState, Task, TaskStatus

KEEP_FINISHED_TASKS_FOR = timedelta(days=1)


def delete_stale_rows(session: Session, now: datetime) -> dict[str, int]:
    """Delete processed event ids, finished tasks and expired OAuth states. Return the counts."""
    return {
        "processed_events": forget_events_before(session, now - KEEP_EVENTS_FOR),
        "tasks": session.execute(
            delete(Task).where(
                Task.status.in_([TaskStatus.DONE.value, TaskStatus.FAILED.value]),
                Task.created_at < now - KEEP_FINISHED_TASKS_FOR,
            )
        ).rowcount,
        "oauth_states": session.execute(delete(OAuthState).where(OAuthState.expires_at < now)).rowcount,
        "slack_oauth_states": session.execute(delete(SlackOAuthState).where(SlackOAuthState.expires_at < now)).rowcount,
    }
