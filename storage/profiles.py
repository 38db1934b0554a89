"""The AI profile: what a user tells the drafting agent about themselves and their posts.

The profile is the user's own words from the profile modal. It must never hold LinkedIn
data or tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import AIProfile

# Longest value kept per field, in characters, so one profile cannot crowd out the
# conversation in the model's context.
MAX_FIELD_CHARS = 3000


@dataclass(frozen=True)
class ProfileFields:
    """The editable fields of an AI profile, empty strings when unset."""

    role: str = ""
    company: str = ""
    company_description: str = ""
    audience: str = ""
    tone: str = ""
    language: str = "English"
    avoid_topics: str = ""
    example_posts: str = ""

    def is_empty(self) -> bool:
        return all(not getattr(self, f.name).strip() for f in fields(self) if f.name != "language")


FIELD_NAMES = tuple(f.name for f in fields(ProfileFields))


def load_profile(session: Session, team_id: str, user_id: str) -> ProfileFields:
    """Return the user's profile, or an empty one in English when none was saved."""
    row = _row(session, team_id, user_id)
    if row is None:
        return ProfileFields()
    return ProfileFields(**{name: getattr(row, name) or "" for name in FIELD_NAMES})


def save_profile(session: Session, team_id: str, user_id: str, profile: ProfileFields, now: datetime) -> None:
    """Insert or replace the user's profile."""
    row = _row(session, team_id, user_id)
    if row is None:
        row = AIProfile(team_id=team_id, user_id=user_id)
        session.add(row)
    for name in FIELD_NAMES:
        value = (getattr(profile, name) or "").strip()[:MAX_FIELD_CHARS]
        setattr(row, name, value)
    row.language = row.language or "English"
    row.updated_at = now
    session.flush()


def _row(session: Session, team_id: str, user_id: str) -> AIProfile | None:
    return session.scalar(select(AIProfile).where(AIProfile.team_id == team_id, AIProfile.user_id == user_id))
