"""The publisher: sends approved, due posts to LinkedIn, each at most once.

One pass (`Publisher.run_once`):
1. Claim due posts (`storage.posts.claim_due`), never more than there are free threads, so
   every claimed post starts at once and its lease covers real work. Posts whose content
   changed after approval go back to draft; posts later than the grace period become
   `missed` and their owner is asked in Slack.
2. Publish each claimed post on a bounded thread pool (`publish`):
   a. load the owner's connection and decrypt its tokens in memory only;
   b. check that the connection may still post for the chosen author;
   c. refresh the access token first when it expires soon and a refresh token exists;
   d. commit `create_sent_at`, only while this worker still holds the claim;
   e. send the create once (the client uploads the images with the author as owner first);
   f. store the URN the moment LinkedIn returns it.
3. Tell the owner (DM, App Home) on a separate small pool, so Slack never holds up a post
   and a Slack failure never changes a post's state.

Failures each end in one state with one message to the owner: reconnect needed, failed
with the reason, retried later with backoff (only when no create went out), or outcome
unknown (a create went out and no clear answer came back).

This module must never send a create without a committed `create_sent_at`, never retry a
create whose outcome is unknown, and never log a token or a post's text.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bot import notify
from bot.views import notices
from linkedin import (
    DuplicatePost,
    ImageProcessingFailed,
    InvalidImage,
    LinkedInError,
    OutcomeUnknown,
    PermissionDenied,
    RateLimited,
    ReconnectRequired,
    TextRejected,
    Transient,
    VersionRetired,
    organization_urn,
    post_url,
    to_commentary,
)
from storage import posts as lifecycle
from storage.connections import StoredConnection, load_connection, save_connection
from storage.db import transaction
from storage.models import Post, PostStatus

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)
# Refresh the access token first when it expires within this margin.
REFRESH_MARGIN = timedelta(minutes=10)
RECONNECT_NOTICE_WINDOW = timedelta(minutes=5)
# Waits before the 2nd, 3rd and 4th try of a post whose create was not sent.
RETRY_BACKOFF = (timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10))
MAX_ATTEMPTS = 4
# A page post found on the page counts as ours if LinkedIn dated it at most this long
# before our create was sent, to allow for clock differences.
RECONCILE_CLOCK_SKEW = timedelta(minutes=5)
RECENT_POSTS_TO_READ = 20


class Outcome:
    PUBLISHED = "published"
    RETRIED = "retried"
    FAILED = "failed"
    NEEDS_RECONNECT = "needs_reconnect"
    OUTCOME_UNKNOWN = "outcome_unknown"
    SKIPPED = "skipped"


@dataclass
class PassCounts:
    """Counts of one pass, by outcome."""

    claimed: int = 0
    missed: int = 0
    voided: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def __getitem__(self, outcome: str) -> int:
        return self.outcomes.get(outcome, 0)


@dataclass(frozen=True)
class PostJob:
    """The data of a claimed post for one attempt, read once so that no session stays open."""

    post_id: int
    team_id: str
    user_id: str
    revision: int
    attempt: int
    text: str
    author_organization_id: str | None
    visibility: str
    images: tuple[tuple[bytes, str], ...]

    @property
    def ids(self) -> str:
        return f"team {self.team_id} user {self.user_id} post {self.post_id}"


class NotConnected(Exception):
    """The owner has no LinkedIn connection, or its access token expired with no way to renew it."""


class Publisher:
    """Publishes due posts; one per process. `run_once` is one pass, `publish` one post."""

    def __init__(self, services, max_workers: int = 16, notify_workers: int = 4, lease: timedelta = LEASE):
        self.services = services
        self.max_workers = max_workers
        self.lease = lease
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="publish")
        self._notify_pool = ThreadPoolExecutor(max_workers=notify_workers, thread_name_prefix="notify")
        self._notifications: set[Future] = set()
        self._notifications_lock = threading.Lock()
        self._stopping = threading.Event()
        # When this worker last sent each owner a reconnect DM, so a burst of 401s sends one.
        self._reconnect_told: dict[tuple[str, str], datetime] = {}
        self._reconnect_lock = threading.Lock()

    @property
    def grace(self) -> timedelta:
        return timedelta(minutes=self.services.settings.grace_minutes)

    # --- passes ---------------------------------------------------------------------

    def run_once(self, wait_for_notifications: bool = True) -> PassCounts:
        """Claim and publish every due post, keeping at most `max_workers` in flight."""
        counts = PassCounts()
        running: set[Future] = set()
        more_due = True

        while True:
            free = self.max_workers - len(running)
            if more_due and free > 0 and not self._stopping.is_set():
                result = self._claim(free)
                counts.claimed += len(result.claimed)
                counts.missed += len(result.missed)
                counts.voided += len(result.voided)
                running |= {self._pool.submit(self._publish_safely, post_id) for post_id in result.claimed}
                more_due = len(result.claimed) + len(result.missed) + len(result.voided) >= free

            if not running:
                break
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                counts.add(future.result())

        if wait_for_notifications:
            self.wait_for_notifications()
        return counts

    def _claim(self, limit: int) -> lifecycle.ClaimResult:
        now = self.services.clock()
        with transaction(self.services.sessions) as session:
            result = lifecycle.claim_due(session, now=now, lease=self.lease, limit=limit, grace=self.grace)
        if result.claimed or result.missed or result.voided:
            logger.info("claimed %d due post(s); %d missed, %d returned to draft", len(result.claimed), len(result.missed), len(result.voided))
        for post_id in result.voided:
            logger.warning("post %s changed after approval and went back to draft unpublished", post_id)
        for post_id in result.missed:
            self._notify_later(self._tell_missed, post_id)
        return result

    def recover(self) -> tuple[list[int], list[int]]:
        """Handle posts whose worker died: reschedule or settle them. Return both id lists."""
        now = self.services.clock()
        with transaction(self.services.sessions) as session:
            rescheduled, unknown = lifecycle.recover_expired_leases(session, now)
        if rescheduled or unknown:
            logger.warning("expired leases: %d post(s) rescheduled (no create sent), %d of unknown outcome", len(rescheduled), len(unknown))
        for post_id in unknown:
            try:
                self._settle_unknown(post_id)
            except Exception:
                # The post stays of unknown outcome, which is safe; only the DM is lost.
                logger.exception("settling post %s of unknown outcome failed", post_id)
        return rescheduled, unknown

    def wait_for_notifications(self) -> None:
        with self._notifications_lock:
            pending = set(self._notifications)
        wait(pending)

    def shutdown(self, wait_for_posts: bool = True) -> None:
        """Stop claiming, let the posts in flight finish, then send the last notices."""
        self._stopping.set()
        self._pool.shutdown(wait=wait_for_posts)
        self._notify_pool.shutdown(wait=wait_for_posts)

    # --- one post ---------------------------------------------------------------------

    def _publish_safely(self, post_id: int) -> str:
        try:
            return self.publish(post_id)
        except Exception:
            # The post keeps its lease. When the lease runs out, recovery reschedules the post
            # if no create was sent, or sends its owner a question if one may have been.
            logger.exception("publishing post %s failed unexpectedly; lease recovery will settle it", post_id)
            return Outcome.SKIPPED

    def publish(self, post_id: int) -> str:
        """Publish one post this worker claimed (status `publishing`). Return its outcome."""
        job = self._load_job(post_id)
        if job is None:
            logger.info("post %s is no longer being published by this worker; skipped", post_id)
            return Outcome.SKIPPED

        try:
            client, author_urn = self._prepare(job)
            # Images go up before the create is marked as sent, so a worker that dies
            # during an upload leaves a post that is simply tried again.
            uploaded = client.upload_images(author_urn, job.images) if job.images else []
        except NotConnected as error:
            return self._hold_for_reconnect(job, str(error))
        except lifecycle.CannotPostAs as error:
            return self._fail(job, str(error), can_retry=False)
        except (LinkedInError, ValueError) as error:
            # Nothing was sent to the Posts API yet, so every path is open, retries too.
            return self._route_failure(job, error)

        sent_at = self.services.clock()
        with transaction(self.services.sessions) as session:
            holds_claim = lifecycle.mark_create_sent_if_leased(session, job.post_id, job.attempt, sent_at, self.lease)
        if not holds_claim:
            # The lease ran out and another worker may have this post now: sending here
            # could publish it twice.
            logger.warning("lost the claim on %s before sending; not sent", job.ids)
            return Outcome.SKIPPED

        return self._send(job, client, author_urn, uploaded)

    def _send(self, job: PostJob, client, author_urn: str, uploaded: list[tuple[str, str]]) -> str:
        try:
            created = client.create_post(author_urn, job.text, visibility=job.visibility, uploaded_images=uploaded)
        except OutcomeUnknown:
            # LinkedIn may have published it. Never retry this create automatically: a
            # second create could publish the post twice.
            logger.warning("create of %s was sent but its response was lost or a server error; outcome unknown", job.ids)
            self._mark_unknown(job.post_id, "LinkedIn did not answer clearly after the post was sent.")
            self._settle_unknown(job.post_id)
            return Outcome.OUTCOME_UNKNOWN
        except (LinkedInError, ValueError) as error:
            # Every other error is a response proving LinkedIn did not publish (a 4xx, or a
            # connection that never opened), so clearing create_sent_at is safe and lets
            # the post take the retry or reconnect path.
            with transaction(self.services.sessions) as session:
                lifecycle.mark_create_rejected(session, job.post_id, self.services.clock())
            return self._route_failure(job, error)

        return self._record_published(job, created.urn)

    def _record_published(self, job: PostJob, urn: str, detail: str = "") -> str:
        # LinkedIn has the post now. If this write fails, the exception leaves the post in
        # `publishing` with create_sent_at set, so lease recovery marks it of unknown
        # outcome and sends its owner a question. It must never reach the retry path.
        try:
            with transaction(self.services.sessions) as session:
                lifecycle.mark_published(session, job.post_id, urn, self.services.clock(), detail=detail)
        except Exception:
            logger.exception("LinkedIn published %s as %s but storing the URN failed", job.ids, urn)
            raise
        logger.info("published %s as %s", job.ids, urn)
        self._notify_later(self._tell_published, job.team_id, job.user_id, job.post_id, urn, job.author_organization_id)
        return Outcome.PUBLISHED

    # --- before the create ------------------------------------------------------------

    def _load_job(self, post_id: int) -> PostJob | None:
        with self.services.sessions() as session:
            try:
                post = lifecycle.get_post(session, post_id)
            except lifecycle.PostNotFound:
                return None
            if post.status != PostStatus.PUBLISHING or post.create_sent_at is not None:
                return None
            return PostJob(
                post_id=post.id,
                team_id=post.team_id,
                user_id=post.owner_user_id,
                revision=post.revision,
                attempt=post.attempts,
                text=post.text,
                author_organization_id=post.author_organization_id,
                visibility=post.visibility,
                images=tuple((image.data, image.alt_text) for image in post.images),
            )

    def _prepare(self, job: PostJob):
        """Return a LinkedIn client and the author URN, refreshing the token if needed."""
        with self.services.sessions() as session:
            connection = load_connection(session, self.services.vault, job.team_id, job.user_id)
        if connection is None:
            raise NotConnected("Your LinkedIn account is not connected any more.")

        rights = lifecycle.PostingRights(scopes=connection.scopes, organization_ids=connection.organization_ids)
        lifecycle.check_posting_rights(rights, job.author_organization_id)
        author_urn = organization_urn(job.author_organization_id) if job.author_organization_id else connection.member_urn

        connection = self._fresh_connection(job, connection)
        return self.services.linkedin.client(connection.access_token), author_urn

    def _fresh_connection(self, job: PostJob, connection: StoredConnection) -> StoredConnection:
        now = self.services.clock()
        expires_at = connection.access_token_expires_at
        if expires_at is None or expires_at - now > REFRESH_MARGIN:
            return connection
        if not connection.refresh_token:
            if expires_at <= now:
                raise NotConnected("Your LinkedIn connection expired, as LinkedIn makes it do after 60 days.")
            return connection

        # RefreshTokenInvalid (a ReconnectRequired) means connect again; any other error,
        # such as a timeout, is not a dead token and takes the retry path.
        tokens = self.services.linkedin.oauth().refresh(
            connection.refresh_token, now=now, refresh_token_expires_at=connection.refresh_token_expires_at
        )
        refreshed = replace(
            connection,
            access_token=tokens.access_token,
            access_token_expires_at=tokens.expires_at,
            # A response without a refresh token keeps the stored one.
            refresh_token=tokens.refresh_token or connection.refresh_token,
            refresh_token_expires_at=tokens.refresh_token_expires_at or connection.refresh_token_expires_at,
        )
        with transaction(self.services.sessions) as session:
            save_connection(session, self.services.vault, refreshed, now)
        logger.info("refreshed the LinkedIn access token of team %s user %s", job.team_id, job.user_id)
        return refreshed

    # --- failures -------------------------------------------------------------------

    def _route_failure(self, job: PostJob, error: Exception) -> str:
        """Move a post whose create was not sent (or was refused) to the state its error calls for."""
        if isinstance(error, ReconnectRequired):
            return self._hold_for_reconnect(job, "LinkedIn no longer accepts your connection: it expired or was revoked.")
        if isinstance(error, RateLimited | Transient):
            return self._retry_or_fail(job, error)
        if isinstance(error, DuplicatePost):
            return self._duplicate(job, error)
        if isinstance(error, VersionRetired):
            logger.error(
                "LinkedIn rejected API version %s as retired (%s); set LINKEDIN_VERSION to a version LinkedIn supports. %s not published",
                self.services.settings.linkedin_version, error.code, job.ids,
            )
            return self._fail(job, "LinkedIn no longer accepts the API version this app uses. The app's operator must update it; try again after that.", can_retry=True)
        if isinstance(error, PermissionDenied):
            return self._fail(job, self._permission_reason(job), can_retry=True)
        if isinstance(error, TextRejected):
            return self._fail(job, error.message, can_retry=False)
        if isinstance(error, ImageProcessingFailed | InvalidImage):
            return self._fail(job, "LinkedIn could not use one of the images. Replace it with another JPEG, PNG or GIF and approve again.", can_retry=False)
        if isinstance(error, ValueError):
            return self._fail(job, f"The post could not be sent as it is: {error}", can_retry=False)
        logger.warning("LinkedIn rejected %s: status=%s code=%s", job.ids, getattr(error, "status", None), getattr(error, "code", None))
        return self._fail(job, f"LinkedIn refused the post: {getattr(error, 'message', str(error))}", can_retry=True)

    @staticmethod
    def _permission_reason(job: PostJob) -> str:
        if job.author_organization_id:
            return (
                "LinkedIn says you may not post for this page. You may have lost your administrator "
                "or content administrator role on it. Ask a page admin, then try again, or choose another author."
            )
        return "LinkedIn says your connection may not publish posts. Connect LinkedIn again and accept every permission."

    def _retry_or_fail(self, job: PostJob, error: LinkedInError) -> str:
        now = self.services.clock()
        if job.attempt >= MAX_ATTEMPTS:
            logger.warning("%s failed after %d tries: %s", job.ids, job.attempt, type(error).__name__)
            return self._fail(job, f"LinkedIn was unavailable on {job.attempt} tries in a row. Try again later.", can_retry=True)

        wait_for = RETRY_BACKOFF[min(job.attempt, len(RETRY_BACKOFF)) - 1]
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            wait_for = max(wait_for, timedelta(seconds=retry_after))
        reason = "LinkedIn asked us to slow down." if isinstance(error, RateLimited) else "LinkedIn could not be reached."
        with transaction(self.services.sessions) as session:
            lifecycle.schedule_retry(session, job.post_id, reason, now + wait_for, now)
        logger.info("%s will be tried again in %d s (try %d of %d): %s", job.ids, wait_for.total_seconds(), job.attempt + 1, MAX_ATTEMPTS, type(error).__name__)
        return Outcome.RETRIED

    def _duplicate(self, job: PostJob, error: DuplicatePost) -> str:
        if error.duplicate_of and self._is_our_post(job, error.duplicate_of):
            logger.info("%s is a duplicate of our own post %s; recorded as published", job.ids, error.duplicate_of)
            return self._record_published(job, error.duplicate_of, detail="LinkedIn named our earlier post as this one")
        return self._fail(
            job,
            "LinkedIn rejected the post as a duplicate of one already on LinkedIn. Change the text, or wait about 10 minutes and try again.",
            can_retry=True,
        )

    def _is_our_post(self, job: PostJob, urn: str) -> bool:
        with self.services.sessions() as session:
            earlier = lifecycle.find_published_by_urn(session, urn)
            return (
                earlier is not None
                and earlier.team_id == job.team_id
                and earlier.owner_user_id == job.user_id
                and earlier.text == job.text
                and earlier.author_organization_id == job.author_organization_id
            )

    def _fail(self, job: PostJob, reason: str, can_retry: bool) -> str:
        with transaction(self.services.sessions) as session:
            post = lifecycle.mark_failed(session, job.post_id, reason, self.services.clock())
            revision = post.revision
        logger.info("%s failed: %s", job.ids, reason)
        self._notify_later(self._tell, job.team_id, job.user_id, notices.failed(job.post_id, revision, reason, can_retry))
        return Outcome.FAILED

    def _hold_for_reconnect(self, job: PostJob, reason: str) -> str:
        now = self.services.clock()
        with transaction(self.services.sessions) as session:
            already_held = lifecycle.owner_has_posts_in(session, job.team_id, job.user_id, PostStatus.NEEDS_RECONNECT)
            held = lifecycle.hold_for_reconnect(session, job.team_id, job.user_id, reason, now, publishing_post_id=job.post_id)
        logger.info("%s needs a reconnect; %d post(s) of the owner held", job.ids, len(held))

        # One DM per outage: not when an earlier post already put the owner on hold, nor
        # when another thread of this worker just sent one for a post held at the same time.
        # A later outage, after the owner reconnected, gets its own DM.
        # NOTE: two workers holding the same owner's posts at the same instant may both DM.
        key = (job.team_id, job.user_id)
        with self._reconnect_lock:
            told_at = self._reconnect_told.get(key)
            first = not already_held and (told_at is None or now - told_at > RECONNECT_NOTICE_WINDOW)
            if first:
                self._reconnect_told[key] = now
        if first:
            self._notify_later(self._tell, job.team_id, job.user_id, notices.reconnect_needed(held, reason))
        return Outcome.NEEDS_RECONNECT

    def forget_reconnect_notice(self, team_id: str, user_id: str) -> None:
        """Allow a new reconnect DM for this owner, after they connected again."""
        with self._reconnect_lock:
            self._reconnect_told.pop((team_id, user_id), None)

    # --- outcome unknown ------------------------------------------------------------

    def _mark_unknown(self, post_id: int, reason: str) -> None:
        with transaction(self.services.sessions) as session:
            lifecycle.mark_outcome_unknown(session, post_id, reason, self.services.clock())

    def _settle_unknown(self, post_id: int) -> None:
        """Look for a page post on its page; else ask the owner. Only reads LinkedIn."""
        with self.services.sessions() as session:
            post = session.get(Post, post_id)
            if post is None or post.status != PostStatus.OUTCOME_UNKNOWN:
                return
            team_id, user_id, revision = post.team_id, post.owner_user_id, post.revision
            organization_id, text, sent_at = post.author_organization_id, post.text, post.create_sent_at

        urn = self._find_on_page(team_id, user_id, organization_id, text, sent_at) if organization_id else None
        if urn is not None:
            with transaction(self.services.sessions) as session:
                lifecycle.mark_published(session, post_id, urn, self.services.clock(), detail="found on the page after an unclear answer")
            logger.info("team %s user %s post %s found on its page as %s; recorded as published", team_id, user_id, post_id, urn)
            self._notify_later(self._tell_published, team_id, user_id, post_id, urn, organization_id)
            return

        logger.info("team %s user %s post %s is of unknown outcome; owner asked", team_id, user_id, post_id)
        self._notify_later(self._tell, team_id, user_id, notices.outcome_unknown(post_id, revision, None, sent_at))

    def _find_on_page(self, team_id: str, user_id: str, organization_id: str, text: str, sent_at: datetime | None) -> str | None:
        """Return the URN of a page post with this text created since the create was sent."""
        with self.services.sessions() as session:
            connection = load_connection(session, self.services.vault, team_id, user_id)
        if connection is None or sent_at is None:
            return None
        try:
            recent = self.services.linkedin.client(connection.access_token).recent_organization_posts(
                organization_urn(organization_id), count=RECENT_POSTS_TO_READ
            )
        except (LinkedInError, ValueError) as error:
            logger.warning("reading page %s for team %s user %s failed: %s", organization_id, team_id, user_id, type(error).__name__)
            return None

        commentary = to_commentary(text)
        since_ms = (sent_at - RECONCILE_CLOCK_SKEW).timestamp() * 1000
        # Only the URN of a match is kept; nothing else read here is stored.
        for candidate in recent:
            recent_enough = candidate.created_at_ms is None or candidate.created_at_ms >= since_ms
            if candidate.commentary == commentary and recent_enough and not self._urn_taken(candidate.urn):
                return candidate.urn
        return None

    def _urn_taken(self, urn: str) -> bool:
        with self.services.sessions() as session:
            return lifecycle.find_published_by_urn(session, urn) is not None

    # --- notifications --------------------------------------------------------------

    def _notify_later(self, function, *args) -> None:
        def run() -> None:
            try:
                function(*args)
            except Exception:
                logger.exception("notifying the owner failed (%s); the post's state is unchanged", function.__name__)

        try:
            future = self._notify_pool.submit(run)
        except RuntimeError:
            # The pool is shut down (the process is stopping): send inline instead.
            run()
            return
        with self._notifications_lock:
            self._notifications.add(future)
        future.add_done_callback(self._forget_notification)

    def _forget_notification(self, future: Future) -> None:
        with self._notifications_lock:
            self._notifications.discard(future)

    def _tell(self, team_id: str, user_id: str, notice: notices.Notice) -> None:
        text, blocks = notice
        notify.dm(self.services, team_id, user_id, text, blocks)
        notify.publish_home(self.services, team_id, user_id)

    def _tell_published(self, team_id: str, user_id: str, post_id: int, urn: str, organization_id: str | None) -> None:
        author_name = f"#{organization_id}" if organization_id else None
        self._tell(team_id, user_id, notices.published(post_id, post_url(urn), author_name))

    def _tell_missed(self, post_id: int) -> None:
        with self.services.sessions() as session:
            post = lifecycle.get_post(session, post_id)
            if post.status != PostStatus.MISSED:
                return
            notice = notices.missed(post.id, post.revision, post.scheduled_at, self.services.settings.grace_minutes)
            team_id, user_id = post.team_id, post.owner_user_id
        logger.info("team %s user %s post %s missed its time; owner asked", team_id, user_id, post_id)
        self._tell(team_id, user_id, notice)
