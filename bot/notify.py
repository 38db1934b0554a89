"""Tell a user what changed: refresh their App Home and send them DMs.

Every module that changes a user's connection or posts should call `publish_home` afterwards,
because Slack never refreshes a Home tab by itself. These functions work in any process
(web, worker, task threads). A Slack failure (an API error, a missing installation or a
network error) is logged with the team and user ids and returns False instead of raising,
because a failed refresh must not undo the change.
They never log a token or a post's text.
"""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from sqlalchemy import func, select

from bot.slack_access import NotInstalled, get_or_create_slack_user
from bot.views.home import (
    MAX_ATTENTION,
    MAX_DRAFTS,
    MAX_PUBLISHED,
    MAX_UPCOMING,
    HomeConnection,
    HomeData,
    HomePost,
    home_view,
)
from linkedin import LinkedInError, post_url
from storage.connections import connection_summary, load_connection
from storage.db import transaction
from storage.models import Post, PostStatus
from storage.posts import ORGANIZATION_SCOPE

logger = logging.getLogger(__name__)

UPCOMING_STATUSES = (PostStatus.SCHEDULED.value, PostStatus.PUBLISHING.value)
ATTENTION_STATUSES = (
    PostStatus.FAILED.value,
    PostStatus.NEEDS_RECONNECT.value,
    PostStatus.MISSED.value,
    PostStatus.OUTCOME_UNKNOWN.value,
)
# Page names looked up live for the Home; more pages are shown by id.
MAX_PAGE_LOOKUPS = 10
PAGE_SCOPES = frozenset({ORGANIZATION_SCOPE, "rw_organization_admin"})


def dm(services, team_id: str, user_id: str, text: str, blocks: list | None = None) -> tuple[str, str] | None:
    """Send a DM and return (channel, ts), or None when Slack failed (logged)."""
    try:
        return services.slack.dm(team_id, user_id, text, blocks)
    except (SlackApiError, NotInstalled, OSError) as error:
        logger.warning("DM to team %s user %s failed: %s", team_id, user_id, _describe(error))
        return None


def publish_home(services, team_id: str, user_id: str) -> bool:
    """Render and publish the user's App Home. Return whether Slack accepted it."""
    try:
        view = home_view(load_home_data(services, team_id, user_id))
        services.slack.client_for(team_id).views_publish(user_id=user_id, view=view)
    except (SlackApiError, NotInstalled, OSError) as error:
        logger.warning("publishing the Home of team %s user %s failed: %s", team_id, user_id, _describe(error))
        return False
    return True


def publish_view(services, team_id: str, user_id: str, view: dict) -> bool:
    """Publish a ready-made Home view, such as the one after a data erasure."""
    try:
        services.slack.client_for(team_id).views_publish(user_id=user_id, view=view)
    except (SlackApiError, NotInstalled, OSError) as error:
        logger.warning("publishing the Home of team %s user %s failed: %s", team_id, user_id, _describe(error))
        return False
    return True


def _describe(error: Exception) -> str:
    if isinstance(error, SlackApiError):
        return str(error.response.get("error"))
    return type(error).__name__


def load_home_data(services, team_id: str, user_id: str) -> HomeData:
    """Collect what the Home shows, and record the user's first visit."""
    timezone = services.slack.user_timezone(team_id, user_id)
    first_visit = _record_visit(services, team_id, user_id)
    connection, page_names = _connection(services, team_id, user_id)

    with services.sessions() as session:
        upcoming, upcoming_total = _posts(session, team_id, user_id, UPCOMING_STATUSES, Post.scheduled_at.asc(), MAX_UPCOMING, page_names)
        attention, attention_total = _posts(session, team_id, user_id, ATTENTION_STATUSES, Post.updated_at.desc(), MAX_ATTENTION, page_names)
        drafts, drafts_total = _posts(session, team_id, user_id, (PostStatus.DRAFT.value,), Post.updated_at.desc(), MAX_DRAFTS, page_names)
        published, _ = _posts(session, team_id, user_id, (PostStatus.PUBLISHED.value,), Post.published_at.desc(), MAX_PUBLISHED, page_names)

    return HomeData(
        timezone=timezone,
        first_visit=first_visit,
        ai_enabled=services.settings.ai_enabled,
        connection=connection,
        upcoming=upcoming,
        upcoming_total=upcoming_total,
        attention=attention,
        attention_total=attention_total,
        drafts=drafts,
        drafts_total=drafts_total,
        published=published,
    )


def _record_visit(services, team_id: str, user_id: str) -> bool:
    with transaction(services.sessions) as session:
        row = get_or_create_slack_user(session, team_id, user_id)
        if row.welcomed_at is not None:
            return False
        row.welcomed_at = services.clock()
        return True


def _connection(services, team_id: str, user_id: str) -> tuple[HomeConnection | None, dict[str, str]]:
    with services.sessions() as session:
        row = connection_summary(session, team_id, user_id)
        if row is None:
            return None, {}
        organization_ids = list(row.organization_ids or [])
        names = _page_names(services, session, team_id, user_id, organization_ids)
        connection = HomeConnection(
            member_name=row.member_name,
            pages=[(organization_id, names.get(organization_id, organization_id)) for organization_id in organization_ids],
            access_token_expires_at=row.access_token_expires_at,
            personal_only=not PAGE_SCOPES <= set(row.scopes or []),
        )
    return connection, names


def _page_names(services, session, team_id: str, user_id: str, organization_ids: list[str]) -> dict[str, str]:
    """Look Page names up live (through the short-lived cache); unknown names stay ids."""
    if not organization_ids:
        return {}
    stored = load_connection(session, services.vault, team_id, user_id)
    if stored is None:
        return {}
    client = services.linkedin.client(stored.access_token)
    names: dict[str, str] = {}
    for organization_id in organization_ids[:MAX_PAGE_LOOKUPS]:
        try:
            name = client.get_organization_name(organization_id)
        except (LinkedInError, ValueError) as error:
            logger.info("Page name lookup failed for team %s user %s page %s: %s", team_id, user_id, organization_id, type(error).__name__)
            continue
        if name:
            names[organization_id] = name
    return names


def _posts(session, team_id: str, user_id: str, statuses: tuple[str, ...], order, limit: int, page_names: dict[str, str]) -> tuple[list[HomePost], int]:
    mine = (Post.team_id == team_id) & (Post.owner_user_id == user_id) & Post.status.in_(statuses)
    total = session.scalar(select(func.count()).select_from(Post).where(mine)) or 0
    rows = session.scalars(select(Post).where(mine).order_by(order, Post.id).limit(limit)).all()
    return [_home_post(row, page_names) for row in rows], total


def _home_post(post: Post, page_names: dict[str, str]) -> HomePost:
    if post.author_organization_id:
        author = page_names.get(post.author_organization_id, f"Page {post.author_organization_id}")
    else:
        author = "your profile"
    return HomePost(
        id=post.id,
        revision=post.revision,
        status=post.status,
        text=post.text or "",
        author=author,
        scheduled_at=post.scheduled_at,
        updated_at=post.updated_at,
        published_at=post.published_at,
        post_url=post_url(post.linkedin_post_urn) if post.linkedin_post_urn else None,
        failure_reason=post.failure_reason,
    )
