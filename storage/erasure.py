"""Erasure of one Slack user's data ("/linkedin delete-my-data").

Deletes every row that belongs to the user in the tables of `USER_DATA_MODELS`. The caller
commits and then calls `storage.db.purge_deleted` so the deleted values leave the database
files. Posts already published on LinkedIn are not touched there.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.models import USER_DATA_MODELS, ConversationTurn, Post, PostImage

# Conversation turns and images go before their posts, so each count is exact on every
# backend (the database would cascade them anyway).
_ORDER = (ConversationTurn, PostImage, Post)


def _user_filter(model, team_id: str, user_id: str):
    if model is Post:
        return (Post.team_id == team_id) & (Post.owner_user_id == user_id)
    return (model.team_id == team_id) & (model.user_id == user_id)


def delete_user_data(session: Session, team_id: str, user_id: str) -> dict[str, int]:
    """Delete the user's connection, posts, AI profile, conversations, Slack settings,
    OAuth states, tasks and audit rows. Return the number of rows removed per table."""
    removed: dict[str, int] = {}
    for model in _ORDER:
        if model is PostImage:
            owned_posts = select(Post.id).where(_user_filter(Post, team_id, user_id))
            owned = delete(PostImage).where(PostImage.post_id.in_(owned_posts))
            removed["post_images"] = session.execute(owned).rowcount
            continue
        removed[model.__tablename__] = session.execute(delete(model).where(_user_filter(model, team_id, user_id))).rowcount
    for model in USER_DATA_MODELS:
        if model.__tablename__ not in removed:
            removed[model.__tablename__] = session.execute(delete(model).where(_user_filter(model, team_id, user_id))).rowcount
    return removed


def user_data_tables() -> list[str]:
    """Return the tables `delete_user_data` deletes from, for `purge_deleted`."""
    return [model.__tablename__ for model in USER_DATA_MODELS] + ["post_images"]
