"""The stored conversation of each AI draft: the user's briefs and replies, the agent's drafts.

Turns are kept per post, so a revision after a restart sends the model the whole
conversation. An assistant turn is stored only when the model answered; a failed call
leaves the conversation as it was.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import ConversationTurn, Post, PostStatus

USER = "user"
ASSISTANT = "assistant"


def add_turn(session: Session, post: Post, *, role: str, content: str, user_id: str, now: datetime) -> ConversationTurn:
    if role not in (USER, ASSISTANT):
        raise ValueError(f"unknown conversation role {role!r}")
    turn = ConversationTurn(post_id=post.id, team_id=post.team_id, user_id=user_id, role=role, content=content, created_at=now)
    session.add(turn)
    session.flush()
    return turn


def list_turns(session: Session, post_id: int) -> list[ConversationTurn]:
    """Return the post's turns, oldest first."""
    return list(session.scalars(select(ConversationTurn).where(ConversationTurn.post_id == post_id).order_by(ConversationTurn.id)))


def has_answer_after(session: Session, post_id: int, turn_id: int) -> bool:
    """Tell whether an assistant turn follows user turn `turn_id`, so it was answered already.

    One answer covers every user turn before it, because each model call sees the whole
    conversation.
    """
    answer = session.scalar(
        select(ConversationTurn.id)
        .where(ConversationTurn.post_id == post_id, ConversationTurn.role == ASSISTANT, ConversationTurn.id > turn_id)
        .limit(1)
    )
    return answer is not None


def find_post_by_thread(session: Session, team_id: str, channel_id: str, thread_ts: str) -> Post | None:
    """Return the post whose draft conversation lives in that Slack thread, if any."""
    return session.scalar(
        select(Post).where(Post.team_id == team_id, Post.channel_id == channel_id, Post.thread_ts == thread_ts).limit(1)
    )


def list_open_posts(session: Session, team_id: str, user_id: str, limit: int = 100) -> list[Post]:
    """Return the user's posts that are not published yet, soonest scheduled first, then newest."""
    return list(
        session.scalars(
            select(Post)
            .where(Post.team_id == team_id, Post.owner_user_id == user_id, Post.status != PostStatus.PUBLISHED.value)
            .order_by(Post.scheduled_at.is_(None), Post.scheduled_at, Post.updated_at.desc())
            .limit(limit)
        )
    )
