from datetime import timedelta

from sqlalchemy import func, select

from storage.db import transaction
from storage.events import claim_event
from storage.housekeeping import delete_stale_rows
from storage.models import OAuthState, ProcessedEvent


def test_housekeeping_deletes_only_stale_rows(sessions, clock):
    now = clock()
    with transaction(sessions) as session:
        assert claim_event(session, "Ev-old", "T1", now - timedelta(days=2))
        assert claim_event(session, "Ev-new", "T1", now - timedelta(minutes=5))
        for name, expires in (("old", now - timedelta(minutes=1)), ("new", now + timedelta(minutes=9))):
            session.add(OAuthState(state_hash=name, browser_hash=name, team_id="T1", user_id="U1", created_at=now, expires_at=expires))

    with transaction(sessions) as session:
        removed = delete_stale_rows(session, now)

    assert removed["processed_events"] == 1
    assert removed["oauth_states"] == 1
    with sessions() as session:
        assert session.scalar(select(ProcessedEvent.event_id)) == "Ev-new"
        assert session.scalar(select(func.count()).select_from(OAuthState)) == 1
