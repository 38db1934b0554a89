"""The life of a post: its states, who may move it between them, and the approval rules.

This module is the one place that changes a post's status. The Slack listeners and the
publisher both call it; neither writes `Post.status` itself.

    draft ──approve──▶ scheduled ──claim──▶ publishing ──▶ published
      ▲                 │   ▲                  │
      │   edit/unschedule   │ retry (backoff)  ├──▶ failed ──(edit, approve)──▶ …
      └─────────────────┘   │                  ├──▶ needs_reconnect ──(reconnect)──▶ scheduled
                            │                  └──▶ outcome_unknown ──(owner decides)──▶ …
              missed ◀──claim, later than the grace period

Rules enforced here:
- Only the owner moves a post by hand (approve, edit, reschedule, unschedule, discard),
  and only from a card of the current revision.
- Approving records who, when, and a fingerprint of exactly what was approved: the text,
  the images with their alt text, the author, the visibility and the time.
- Any change to the content or the time bumps the revision and voids the approval, so
  the post is a draft again until its owner approves it again.
- The publisher claims only posts that are scheduled, due, approved, and whose stored
  fingerprint matches their current content; any other post returns to draft.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session

from storage.models import AuditEntry, LinkedInConnection, Post, PostImage, PostStatus, Visibility

MAX_TEXT_CHARS = 3000  # LinkedIn shows at most 3,000 characters (code points) of a post.
MAX_SCHEDULE_AHEAD = timedelta(days=365)

MEMBER_SCOPE = "w_member_social"
ORGANIZATION_SCOPE = "w_organization_social"

# States the owner may edit or approve from. `publishing` and `published` are final for
# the owner; `outcome_unknown` is left only through `resolve_outcome_unknown`.
EDITABLE = frozenset({PostStatus.DRAFT, PostStatus.SCHEDULED, PostStatus.FAILED, PostStatus.MISSED, PostStatus.NEEDS_RECONNECT})
APPROVABLE = EDITABLE
DISCARDABLE = frozenset(set(PostStatus) - {PostStatus.PUBLISHING})
# Scheduled states that a disconnect or an edit returns to draft.
WAITING_TO_PUBLISH = frozenset({PostStatus.SCHEDULED, PostStatus.NEEDS_RECONNECT, PostStatus.MISSED})


class PostRuleError(Exception):
    """A request that the rules refuse. `str()` is a message fit to show the user."""


class NotOwner(PostRuleError):
    def __init__(self) -> None:
        super().__init__("Only the person who wrote this post can change, approve or discard it.")


class OutOfDate(PostRuleError):
    def __init__(self) -> None:
        super().__init__("This card is out of date: the post changed since it was shown. Use the newest card.")


class AlreadyScheduled(PostRuleError):
    def __init__(self, scheduled_at: datetime | None) -> None:
        self.scheduled_at = scheduled_at
        super().__init__("This post is already scheduled.")


class InvalidText(PostRuleError):
    pass


class InvalidTime(PostRuleError):
    pass


class CannotPostAs(PostRuleError):
    """The owner's LinkedIn connection cannot post for the chosen author."""

    def __init__(self, message: str, needs_connect: bool = True) -> None:
        self.needs_connect = needs_connect
        super().__init__(message)


class NotAllowedInState(PostRuleError):
    def __init__(self, status: str, action: str) -> None:
        self.status = status
        super().__init__(f"A post that is {describe_status(status)} cannot be {action}.")


class PostNotFound(PostRuleError):
    def __init__(self) -> None:
        super().__init__("This post no longer exists; it may have been discarded.")


def describe_status(status: str) -> str:
    return {
        PostStatus.DRAFT: "a draft",
        PostStatus.SCHEDULED: "scheduled",
        PostStatus.PUBLISHING: "being published",
        PostStatus.PUBLISHED: "published",
        PostStatus.FAILED: "failed",
        PostStatus.NEEDS_RECONNECT: "waiting for a LinkedIn reconnect",
        PostStatus.MISSED: "missed",
        PostStatus.OUTCOME_UNKNOWN: "of unknown outcome",
    }.get(status, status)


@dataclass(frozen=True)
class PostingRights:
    """The posting rights of a LinkedIn connection, without its tokens."""

    scopes: frozenset[str]
    organization_ids: tuple[str, ...] = ()


@dataclass
class ClaimResult:
    claimed: list[int] = field(default_factory=list)
    voided: list[int] = field(default_factory=list)  # fingerprint mismatch: back to draft
    missed: list[int] = field(default_factory=list)  # later than the grace period


def count_chars(text: str) -> int:
    """Count Unicode code points, as LinkedIn counts the 3,000-character limit."""
    return len(text)


def fingerprint(post: Post) -> str:
    """Hash exactly what an approval covers: text, images and alt text, author, visibility, time."""
    content = {
        "text": post.text,
        "images": [[image.sha256, image.alt_text] for image in sorted(post.images, key=lambda i: i.position)],
        "author_organization_id": post.author_organization_id,
        "visibility": post.visibility,
        "scheduled_at": post.scheduled_at.astimezone(UTC).isoformat() if post.scheduled_at else None,
    }
    encoded = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()


def is_approved_as_is(post: Post) -> bool:
    return bool(post.approved_by and post.approval_fingerprint and post.approval_fingerprint == fingerprint(post))


def validate_text(text: str) -> None:
    if not text.strip():
        raise InvalidText("The post is empty. Write some text before approving it.")
    length = count_chars(text)
    if length > MAX_TEXT_CHARS:
        raise InvalidText(
            f"The post is {length:,} characters long; LinkedIn allows {MAX_TEXT_CHARS:,}. "
            f"Shorten it by {length - MAX_TEXT_CHARS:,} characters."
        )


def earliest_time(now: datetime) -> datetime:
    """Return the next whole minute after `now`, the earliest time a post may be scheduled for."""
    floor = now.replace(second=0, microsecond=0)
    return floor + timedelta(minutes=1)


def validate_time(scheduled_at: datetime, now: datetime) -> None:
    if scheduled_at.tzinfo is None:
        raise InvalidTime("The time has no time zone.")
    if scheduled_at < earliest_time(now):
        raise InvalidTime("That time is in the past. Choose a time from the next minute on.")
    if scheduled_at > now + MAX_SCHEDULE_AHEAD:
        raise InvalidTime("That time is more than a year ahead. Choose a time within the next 12 months.")


def check_posting_rights(rights: PostingRights | None, author_organization_id: str | None) -> None:
    if rights is None:
        raise CannotPostAs("Connect your LinkedIn account before approving a post.")
    if author_organization_id is None:
        if MEMBER_SCOPE not in rights.scopes:
            raise CannotPostAs("Your LinkedIn connection does not allow posting. Connect again and accept every permission.")
        return
    if ORGANIZATION_SCOPE not in rights.scopes:
        raise CannotPostAs("Your LinkedIn connection does not allow posting for pages. Connect again and accept every permission.")
    if author_organization_id not in rights.organization_ids:
        raise CannotPostAs(
            "You are not an administrator or content administrator of that LinkedIn page any more. "
            "Choose another author, or connect again if your role changed."
        )


def audit(session: Session, post: Post | None, action: str, now: datetime, *, team_id: str = "", user_id: str = "", detail: str = "") -> None:
    """Record what happened. `detail` must never contain a token, post text or LinkedIn data."""
    session.add(
        AuditEntry(
            team_id=post.team_id if post else team_id,
            user_id=post.owner_user_id if post else user_id,
            post_id=post.id if post else None,
            action=action,
            detail=detail,
            created_at=now,
        )
    )


def _ensure_owner(post: Post, team_id: str, actor_user_id: str) -> None:
    if post.team_id != team_id or post.owner_user_id != actor_user_id:
        raise NotOwner()


def _ensure_revision(post: Post, expected_revision: int | None) -> None:
    if expected_revision is not None and expected_revision != post.revision:
        raise OutOfDate()


def check_card(post: Post, *, team_id: str, actor_user_id: str, expected_revision: int | None) -> None:
    """Raise NotOwner or OutOfDate unless the owner acts on a card of the current revision.

    For actions that change nothing yet, such as opening the edit form.
    """
    _ensure_owner(post, team_id, actor_user_id)
    _ensure_revision(post, expected_revision)


def _void_approval(post: Post) -> None:
    post.approved_by = None
    post.approved_at = None
    post.approval_fingerprint = None


def _changed(post: Post, now: datetime) -> None:
    """Bump the revision, void any approval and return a waiting post to draft."""
    post.revision += 1
    post.updated_at = now
    _void_approval(post)
    if post.status in WAITING_TO_PUBLISH or post.status == PostStatus.FAILED:
        post.status = PostStatus.DRAFT.value
    post.next_attempt_at = None


def get_post(session: Session, post_id: int, *, for_update: bool = False) -> Post:
    statement = select(Post).where(Post.id == post_id)
    if for_update and session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update()
    post = session.scalar(statement)
    if post is None:
        raise PostNotFound()
    return post


def create_draft(
    session: Session,
    *,
    team_id: str,
    owner_user_id: str,
    now: datetime,
    text: str = "",
    author_organization_id: str | None = None,
    visibility: str = Visibility.PUBLIC.value,
    source: str = "manual",
    media_suggestions: list[str] | None = None,
) -> Post:
    post = Post(
        team_id=team_id,
        owner_user_id=owner_user_id,
        text=text,
        author_organization_id=author_organization_id,
        visibility=visibility,
        source=source,
        media_suggestions=list(media_suggestions or []),
        status=PostStatus.DRAFT.value,
        revision=1,
        attempts=0,
        created_at=now,
        updated_at=now,
    )
    session.add(post)
    session.flush()
    audit(session, post, "draft_created", now, detail=f"source={source}")
    return post


_UNSET = object()


def edit_post(
    session: Session,
    post: Post,
    *,
    team_id: str,
    actor_user_id: str,
    now: datetime,
    expected_revision: int | None = None,
    text=_UNSET,
    author_organization_id=_UNSET,
    visibility=_UNSET,
    media_suggestions=_UNSET,
    scheduled_at=_UNSET,
) -> bool:
    """Change a post's content on its owner's behalf. Return whether an approval was voided.

    Text over the limit is kept (so nothing the user typed is lost) but cannot be approved.
    """
    _ensure_owner(post, team_id, actor_user_id)
    _ensure_revision(post, expected_revision)
    if post.status not in EDITABLE:
        raise NotAllowedInState(post.status, "edited")
    was_approved = post.approved_by is not None
    if text is not _UNSET:
        post.text = text
    if author_organization_id is not _UNSET:
        post.author_organization_id = author_organization_id
    if visibility is not _UNSET:
        if visibility not in {v.value for v in Visibility}:
            raise InvalidText(f"Unknown visibility {visibility!r}.")
        post.visibility = visibility
    if media_suggestions is not _UNSET:
        post.media_suggestions = list(media_suggestions)
    if scheduled_at is not _UNSET:
        post.scheduled_at = scheduled_at
    _changed(post, now)
    audit(session, post, "edited", now, detail="approval voided" if was_approved else "")
    return was_approved


def revise_from_agent(session: Session, post: Post, *, text: str, media_suggestions: list[str], now: datetime) -> None:
    """Replace a draft's text with the AI agent's revision. The agent never approves anything."""
    if post.status not in EDITABLE:
        raise NotAllowedInState(post.status, "revised")
    was_approved = post.approved_by is not None
    post.text = text
    post.media_suggestions = list(media_suggestions)
    _changed(post, now)
    audit(session, post, "revised_by_agent", now, detail="approval voided" if was_approved else "")


def add_image(
    session: Session,
    post: Post,
    *,
    team_id: str,
    actor_user_id: str,
    now: datetime,
    data: bytes,
    content_type: str,
    width: int,
    height: int,
    filename: str = "",
    alt_text: str = "",
) -> PostImage:
    _ensure_owner(post, team_id, actor_user_id)
    if post.status not in EDITABLE:
        raise NotAllowedInState(post.status, "changed")
    image = PostImage(
        position=len(post.images),
        filename=filename,
        content_type=content_type,
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        width=width,
        height=height,
        alt_text=alt_text,
    )
    post.images.append(image)
    _changed(post, now)
    session.flush()
    audit(session, post, "image_added", now)
    return image


def set_image_alt_text(session: Session, post: Post, image_id: int, alt_text: str, *, team_id: str, actor_user_id: str, now: datetime) -> None:
    _ensure_owner(post, team_id, actor_user_id)
    if post.status not in EDITABLE:
        raise NotAllowedInState(post.status, "changed")
    for image in post.images:
        if image.id == image_id:
            image.alt_text = alt_text
            _changed(post, now)
            audit(session, post, "image_alt_text_changed", now)
            return
    raise PostRuleError("That image is no longer attached to the post.")


def remove_image(session: Session, post: Post, image_id: int, *, team_id: str, actor_user_id: str, now: datetime) -> None:
    _ensure_owner(post, team_id, actor_user_id)
    if post.status not in EDITABLE:
        raise NotAllowedInState(post.status, "changed")
    remaining = [image for image in post.images if image.id != image_id]
    if len(remaining) == len(post.images):
        raise PostRuleError("That image is no longer attached to the post.")
    post.images = remaining
    for position, image in enumerate(remaining):
        image.position = position
    _changed(post, now)
    audit(session, post, "image_removed", now)


def approve(
    session: Session,
    post: Post,
    *,
    team_id: str,
    actor_user_id: str,
    expected_revision: int,
    scheduled_at: datetime | None,
    rights: PostingRights | None,
    now: datetime,
) -> None:
    """Approve the post's current content for `scheduled_at` (None: publish now).

    Raises AlreadyScheduled when the same card is clicked twice.
    """
    _ensure_owner(post, team_id, actor_user_id)
    when = now if scheduled_at is None else scheduled_at
    if post.status == PostStatus.SCHEDULED and post.revision == expected_revision and is_approved_as_is(post):
        raise AlreadyScheduled(post.scheduled_at)
    _ensure_revision(post, expected_revision)
    if post.status not in APPROVABLE:
        raise NotAllowedInState(post.status, "approved")
    validate_text(post.text)
    if scheduled_at is not None:
        validate_time(scheduled_at, now)
    check_posting_rights(rights, post.author_organization_id)

    _record_approval(post, actor_user_id, when, now)
    audit(session, post, "approved", now, detail=f"scheduled_at={when.isoformat()}")


def _record_approval(post: Post, actor_user_id: str, scheduled_at: datetime, now: datetime) -> None:
    """Schedule the post for `scheduled_at` with a fingerprint of its content as it is now."""
    post.scheduled_at = scheduled_at
    post.status = PostStatus.SCHEDULED.value
    post.approved_by = actor_user_id
    post.approved_at = now
    post.approval_fingerprint = fingerprint(post)
    post.failure_reason = None
    post.attempts = 0
    post.next_attempt_at = None
    post.create_sent_at = None
    post.lease_expires_at = None
    post.updated_at = now


def unschedule(session: Session, post: Post, *, team_id: str, actor_user_id: str, expected_revision: int | None, now: datetime) -> None:
    _ensure_owner(post, team_id, actor_user_id)
    _ensure_revision(post, expected_revision)
    if post.status not in WAITING_TO_PUBLISH:
        raise NotAllowedInState(post.status, "unscheduled")
    post.status = PostStatus.DRAFT.value
    post.revision += 1
    post.updated_at = now
    _void_approval(post)
    audit(session, post, "unscheduled", now)


def discard(session: Session, post: Post, *, team_id: str, actor_user_id: str, expected_revision: int | None, now: datetime) -> None:
    """Delete the post with its images and conversation."""
    _ensure_owner(post, team_id, actor_user_id)
    _ensure_revision(post, expected_revision)
    if post.status not in DISCARDABLE:
        raise NotAllowedInState(post.status, "discarded")
    audit(session, post, "discarded", now)
    session.delete(post)
    session.flush()


def resolve_outcome_unknown(session: Session, post: Post, *, team_id: str, actor_user_id: str, was_published: bool, rights: PostingRights | None, now: datetime) -> None:
    """Record the owner's decision after checking LinkedIn: published, or approved to send again now."""
    _ensure_owner(post, team_id, actor_user_id)
    if post.status != PostStatus.OUTCOME_UNKNOWN:
        raise NotAllowedInState(post.status, "resolved")
    if was_published:
        post.status = PostStatus.PUBLISHED.value
        post.published_at = post.create_sent_at or now
        post.updated_at = now
        audit(session, post, "published_confirmed_by_owner", now)
        return
    check_posting_rights(rights, post.author_organization_id)
    post.revision += 1
    _record_approval(post, actor_user_id, now, now)
    audit(session, post, "approved_again_after_unknown_outcome", now)


def return_owner_posts_to_draft(session: Session, team_id: str, user_id: str, now: datetime) -> int:
    """Void the approval of every waiting post of a user (on disconnect). Return the count."""
    posts = session.scalars(
        select(Post).where(
            Post.team_id == team_id,
            Post.owner_user_id == user_id,
            Post.status.in_([s.value for s in WAITING_TO_PUBLISH]),
        )
    ).all()
    for post in posts:
        post.status = PostStatus.DRAFT.value
        post.revision += 1
        post.updated_at = now
        _void_approval(post)
        audit(session, post, "approval_voided_by_disconnect", now)
    session.flush()
    return len(posts)


# --- The publisher's transitions -------------------------------------------------------


def due_filter(now: datetime):
    return and_(
        Post.status == PostStatus.SCHEDULED.value,
        Post.scheduled_at <= now,
        or_(Post.next_attempt_at.is_(None), Post.next_attempt_at <= now),
    )


def next_due_time(session: Session) -> datetime | None:
    """Return the earliest time a scheduled post becomes due, for waking the publisher."""
    candidates = session.execute(
        select(Post.scheduled_at, Post.next_attempt_at)
        .where(Post.status == PostStatus.SCHEDULED.value)
        .order_by(Post.scheduled_at)
        .limit(50)
    ).all()
    times = [max(t for t in row if t is not None) for row in candidates]
    return min(times) if times else None


def claim_due(session: Session, *, now: datetime, lease: timedelta, limit: int, grace: timedelta) -> ClaimResult:
    """Move due posts to `publishing` under a lease, atomically, so each is claimed once.

    PostgreSQL locks the candidate rows with FOR UPDATE SKIP LOCKED, so concurrent workers
    claim disjoint sets. SQLite has one writer at a time and the UPDATE is conditional on
    the status, so a post another worker already claimed is left alone.
    """
    result = ClaimResult()
    statement = select(Post).where(due_filter(now)).order_by(Post.scheduled_at, Post.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    for post in session.scalars(statement).all():
        if not is_approved_as_is(post):
            # The content changed after approval: never publish it.
            post.status = PostStatus.DRAFT.value
            post.revision += 1
            _void_approval(post)
            post.updated_at = now
            audit(session, post, "approval_mismatch_returned_to_draft", now)
            result.voided.append(post.id)
            continue
        # Lateness counts from the time a try was due, so a retry's backoff is not lateness
        # but a worker that was down for longer than the grace period is, retry or not.
        due_at = max(post.scheduled_at, post.next_attempt_at or post.scheduled_at)
        if now - due_at > grace:
            post.status = PostStatus.MISSED.value
            post.updated_at = now
            audit(session, post, "missed", now, detail=f"late by {_minutes(now - due_at)} min")
            result.missed.append(post.id)
            continue
        claimed = session.execute(
            update(Post)
            .where(Post.id == post.id, Post.status == PostStatus.SCHEDULED.value)
            .values(status=PostStatus.PUBLISHING.value, lease_expires_at=now + lease, attempts=Post.attempts + 1, updated_at=now)
            .execution_options(synchronize_session="fetch")
        )
        if claimed.rowcount == 1:
            result.claimed.append(post.id)
    session.flush()
    return result


def _minutes(delta: timedelta) -> int:
    return math.ceil(delta.total_seconds() / 60)


def _publishing(session: Session, post_id: int) -> Post:
    post = get_post(session, post_id)
    if post.status != PostStatus.PUBLISHING:
        raise NotAllowedInState(post.status, "changed by the publisher")
    return post


def mark_create_sent(session: Session, post_id: int, now: datetime) -> None:
    """Record that the create request is about to go out. Commit this before sending it."""
    post = _publishing(session, post_id)
    post.create_sent_at = now
    post.updated_at = now


def mark_published(session: Session, post_id: int, post_urn: str | None, now: datetime, detail: str = "") -> Post:
    post = get_post(session, post_id)
    if post.status not in (PostStatus.PUBLISHING, PostStatus.OUTCOME_UNKNOWN):
        raise NotAllowedInState(post.status, "marked published")
    post.status = PostStatus.PUBLISHED.value
    post.linkedin_post_urn = post_urn
    post.published_at = now
    post.lease_expires_at = None
    post.failure_reason = None
    post.updated_at = now
    audit(session, post, "published", now, detail=detail)
    return post


def mark_failed(session: Session, post_id: int, reason: str, now: datetime) -> Post:
    post = _publishing(session, post_id)
    post.status = PostStatus.FAILED.value
    post.failure_reason = reason
    post.lease_expires_at = None
    post.updated_at = now
    audit(session, post, "failed", now, detail=reason[:300])
    return post


def mark_outcome_unknown(session: Session, post_id: int, reason: str, now: datetime) -> Post:
    post = get_post(session, post_id)
    if post.status != PostStatus.PUBLISHING:
        raise NotAllowedInState(post.status, "marked of unknown outcome")
    post.status = PostStatus.OUTCOME_UNKNOWN.value
    post.failure_reason = reason
    post.lease_expires_at = None
    post.updated_at = now
    audit(session, post, "outcome_unknown", now, detail=reason[:300])
    return post


def schedule_retry(session: Session, post_id: int, reason: str, retry_at: datetime, now: datetime) -> Post:
    """Return a post whose create was not sent to `scheduled`, to be tried again at `retry_at`."""
    post = _publishing(session, post_id)
    if post.create_sent_at is not None:
        raise NotAllowedInState(post.status, "retried after its create was sent")
    post.status = PostStatus.SCHEDULED.value
    post.next_attempt_at = retry_at
    post.lease_expires_at = None
    post.failure_reason = reason
    post.updated_at = now
    audit(session, post, "retry_scheduled", now, detail=reason[:300])
    return post


def hold_for_reconnect(session: Session, team_id: str, user_id: str, reason: str, now: datetime, publishing_post_id: int | None = None) -> list[int]:
    """Move the post being published and the owner's other scheduled posts to `needs_reconnect`."""
    held: list[int] = []
    posts = session.scalars(
        select(Post).where(
            Post.team_id == team_id,
            Post.owner_user_id == user_id,
            or_(Post.status == PostStatus.SCHEDULED.value, Post.id == publishing_post_id),
        )
    ).all()
    for post in posts:
        if post.status == PostStatus.PUBLISHING and post.create_sent_at is not None:
            continue  # A create went out; only the caller may decide its outcome.
        post.status = PostStatus.NEEDS_RECONNECT.value
        post.failure_reason = reason
        post.lease_expires_at = None
        post.updated_at = now
        audit(session, post, "needs_reconnect", now)
        held.append(post.id)
    session.flush()
    return held


def resume_after_reconnect(session: Session, team_id: str, user_id: str, now: datetime) -> int:
    """Put posts held for a reconnect back in the queue; the claim checks the grace period."""
    posts = session.scalars(
        select(Post).where(
            Post.team_id == team_id, Post.owner_user_id == user_id, Post.status == PostStatus.NEEDS_RECONNECT.value
        )
    ).all()
    for post in posts:
        post.status = PostStatus.SCHEDULED.value
        post.failure_reason = None
        post.next_attempt_at = None
        post.attempts = 0
        post.create_sent_at = None
        post.updated_at = now
        audit(session, post, "resumed_after_reconnect", now)
    session.flush()
    return len(posts)


def recover_expired_leases(session: Session, now: datetime) -> tuple[list[int], list[int]]:
    """Handle posts whose publishing worker died. Return (rescheduled, outcome_unknown) ids.

    A post whose create was never sent goes back to `scheduled`. One whose create may have
    been sent becomes `outcome_unknown`: sending it again could post it twice.
    """
    rescheduled: list[int] = []
    unknown: list[int] = []
    statement = select(Post).where(Post.status == PostStatus.PUBLISHING.value, Post.lease_expires_at < now)
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    for post in session.scalars(statement).all():
        post.lease_expires_at = None
        post.updated_at = now
        if post.create_sent_at is None:
            post.status = PostStatus.SCHEDULED.value
            audit(session, post, "lease_expired_rescheduled", now)
            rescheduled.append(post.id)
        else:
            post.status = PostStatus.OUTCOME_UNKNOWN.value
            post.failure_reason = "The publisher stopped while sending this post, so LinkedIn may or may not have it."
            audit(session, post, "lease_expired_outcome_unknown", now)
            unknown.append(post.id)
    session.flush()
    return rescheduled, unknown


def delete_user_posts(session: Session, team_id: str, user_id: str) -> int:
    result = session.execute(delete(Post).where(Post.team_id == team_id, Post.owner_user_id == user_id))
    return result.rowcount


# --- Additions for the publisher and the expiry reminders ---------------------------------


def mark_create_sent_if_leased(session: Session, post_id: int, attempt: int, now: datetime, lease: timedelta) -> bool:
    """Record that the create is about to go out, only while this worker has the claim.

    `attempt` is the post's `attempts` value right after this worker claimed it. When the
    lease ran out and another worker claimed the post again, the attempt count moved on, so
    this returns False and the caller must not send: two workers must never both send.
    The lease is renewed for `lease` so the send has its full time. Commit this before
    sending the create.
    """
    result = session.execute(
        update(Post)
        .where(
            Post.id == post_id,
            Post.status == PostStatus.PUBLISHING.value,
            Post.attempts == attempt,
            Post.create_sent_at.is_(None),
            Post.lease_expires_at > now,
        )
        .values(create_sent_at=now, lease_expires_at=now + lease, updated_at=now)
        .execution_options(synchronize_session="fetch")
    )
    return result.rowcount == 1


def mark_create_rejected(session: Session, post_id: int, now: datetime) -> Post:
    """Clear `create_sent_at` after LinkedIn rejected the create for certain.

    Call this only when LinkedIn's response proves it did not publish (a 4xx, or a connection
    that never opened), so the post may take the retry or reconnect path. Never call it on
    a timeout, a dropped connection or a 5xx: the post may exist on LinkedIn.
    """
    post = _publishing(session, post_id)
    post.create_sent_at = None
    post.updated_at = now
    return post


def find_published_by_urn(session: Session, post_urn: str) -> Post | None:
    """Return the published post whose LinkedIn URN is `post_urn`, if this product made it."""
    return session.scalar(
        select(Post).where(Post.linkedin_post_urn == post_urn, Post.status == PostStatus.PUBLISHED.value).limit(1)
    )


def scheduled_after(session: Session, team_id: str, user_id: str, moment: datetime) -> list[Post]:
    """Return the user's posts waiting to publish at a time later than `moment`."""
    return list(
        session.scalars(
            select(Post)
            .where(
                Post.team_id == team_id,
                Post.owner_user_id == user_id,
                Post.status == PostStatus.SCHEDULED.value,
                Post.scheduled_at > moment,
            )
            .order_by(Post.scheduled_at)
        ).all()
    )


def connections_to_remind(session: Session, now: datetime, ahead: timedelta) -> list[LinkedInConnection]:
    """Return connections whose owner must reconnect soon and was not reminded of this expiry.

    The expiry that matters is the refresh token's when there is one (the publisher renews
    the access token with it), else the access token's; see `reminder_expiry`. A connection
    is due a reminder when that expiry is within `ahead`, or when it has no refresh token and
    one of its owner's scheduled posts falls after the access token's expiry.
    """
    post_after_expiry = (
        select(Post.id)
        .where(
            Post.team_id == LinkedInConnection.team_id,
            Post.owner_user_id == LinkedInConnection.user_id,
            Post.status == PostStatus.SCHEDULED.value,
            Post.scheduled_at > LinkedInConnection.access_token_expires_at,
        )
        .exists()
    )
    without_refresh = and_(
        LinkedInConnection.refresh_token.is_(None),
        LinkedInConnection.access_token_expires_at.is_not(None),
        or_(
            LinkedInConnection.reminded_for_expiry_at.is_(None),
            LinkedInConnection.reminded_for_expiry_at != LinkedInConnection.access_token_expires_at,
        ),
        or_(LinkedInConnection.access_token_expires_at <= now + ahead, post_after_expiry),
    )
    with_refresh = and_(
        LinkedInConnection.refresh_token.is_not(None),
        LinkedInConnection.refresh_token_expires_at.is_not(None),
        or_(
            LinkedInConnection.reminded_for_expiry_at.is_(None),
            LinkedInConnection.reminded_for_expiry_at != LinkedInConnection.refresh_token_expires_at,
        ),
        LinkedInConnection.refresh_token_expires_at <= now + ahead,
    )
    return list(session.scalars(select(LinkedInConnection).where(or_(without_refresh, with_refresh))).all())


def reminder_expiry(connection: LinkedInConnection) -> datetime | None:
    """Return the expiry after which the owner must connect again, as reminders track it."""
    if connection.refresh_token is not None:
        return connection.refresh_token_expires_at
    return connection.access_token_expires_at


def owner_has_posts_in(session: Session, team_id: str, user_id: str, status: PostStatus) -> bool:
    return (
        session.scalar(
            select(Post.id)
            .where(Post.team_id == team_id, Post.owner_user_id == user_id, Post.status == status.value)
            .limit(1)
        )
        is not None
    )


def mark_expiry_reminded(session: Session, connection_id: int, expires_at: datetime) -> None:
    """Record that the owner was reminded of the expiry `expires_at` (see `reminder_expiry`)."""
    session.execute(
        update(LinkedInConnection)
        .where(LinkedInConnection.id == connection_id)
        .values(reminded_for_expiry_at=expires_at)
    )
