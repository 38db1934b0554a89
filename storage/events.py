"""Slack event ids already handled, so that a redelivered event does nothing the second time.

Slack redelivers an event when it got no 2xx within 3 seconds, with the same `event_id`.
`claim_event` inserts the id if it is absent in one statement, so of two deliveries that
race, exactly one gets True. It must never be called outside the transaction that does the
event's work, or a crash between the two would drop the event for good.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import ProcessedEvent

# Slack's last redelivery comes about 5 minutes after the first; a day leaves a wide margin.
KEEP_EVENTS_FOR = timedelta(days=1)


def claim_event(session: Session, event_id: str, team_id: str, now: datetime) -> bool:
    """Record `event_id` as processed. Return False if it already was."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(ProcessedEvent)
        .values(event_id=event_id, team_id=team_id, processed_at=now)
        .on_conflict_do_nothing(index_elements=["event_id"])
        # RETURNING tells on both backends whether the row went in; the rowcount did not
        # on PostgreSQL with psycopg 3.
        .returning(ProcessedEvent.event_id)
    )
    return session.execute(statement).first() is not None


def forget_events_before(session: Session, cutoff: datetime) -> int:
    """Delete event ids older than `cutoff`; Slack stops redelivering after about 5 minutes."""
    result = session.execute(delete(ProcessedEvent).where(ProcessedEvent.processed_at < cutoff))
    return result.rowcount

