"""The approval rules and the publisher's transitions in storage/posts.py."""

from datetime import UTC, datetime, timedelta

import pytest

from storage import posts
from storage.db import make_session_factory, transaction
from storage.models import Post, PostStatus

NOW = datetime(2027, 1, 1, 12, 0, 30, tzinfo=UTC)
MEMBER_RIGHTS = posts.PostingRights(scopes=frozenset({"w_member_social"}))
PAGE_RIGHTS = posts.PostingRights(scopes=frozenset({"w_member_social", "w_organization_social"}), organization_ids=("42",))


def new_post(session, text="Launch day. (Beta opens at noon.)", **kwargs) -> Post:
    return posts.create_draft(session, team_id="T1", owner_user_id="U1", now=NOW, text=text, **kwargs)


def approve(session, post, when=NOW + timedelta(hours=1), rights=MEMBER_RIGHTS, user="U1", revision=None):
    posts.approve(
        session,
        post,
        team_id="T1",
        actor_user_id=user,
        expected_revision=post.revision if revision is None else revision,
        scheduled_at=when,
        rights=rights,
        now=NOW,
    )


@pytest.fixture
def session(db_engine):
    with transaction(make_session_factory(db_engine)) as session:
        yield session


def test_approve_records_fingerprint(session):
    post = new_post(session)
    approve(session, post)
    assert post.status == PostStatus.SCHEDULED
    assert post.approved_by == "U1"
    assert post.approval_fingerprint == posts.fingerprint(post)
    assert posts.is_approved_as_is(post)


def test_edit_voids_approval(session):
    post = new_post(session)
    approve(session, post)
    revision = post.revision
    voided = posts.edit_post(session, post, team_id="T1", actor_user_id="U1", now=NOW, expected_revision=revision, text="New text")
    assert voided
    assert post.status == PostStatus.DRAFT
    assert post.approval_fingerprint is None
    assert post.revision == revision + 1


def test_other_user_cannot_approve(session):
    post = new_post(session)
    with pytest.raises(posts.NotOwner):
        approve(session, post, user="U2")
    assert post.status == PostStatus.DRAFT


def test_old_revision_is_out_of_date(session):
    post = new_post(session)
    posts.edit_post(session, post, team_id="T1", actor_user_id="U1", now=NOW, text="v2")
    with pytest.raises(posts.OutOfDate):
        approve(session, post, revision=post.revision - 1)


def test_double_approve_says_already_scheduled(session):
    post = new_post(session)
    approve(session, post)
    revision = post.revision
    with pytest.raises(posts.AlreadyScheduled):
        approve(session, post, revision=revision)
    assert post.revision == revision


@pytest.mark.parametrize(
    ("when", "message"),
    [
        (NOW.replace(second=0), "in the past"),  # the current minute has started already
        (NOW - timedelta(days=1), "in the past"),
        (NOW + timedelta(days=366), "more than a year"),
    ],
)
def test_approve_rejects_bad_times(session, when, message):
    post = new_post(session)
    with pytest.raises(posts.InvalidTime, match=message):
        approve(session, post, when=when)


def test_earliest_time_is_next_whole_minute():
    assert posts.earliest_time(NOW) == datetime(2027, 1, 1, 12, 1, tzinfo=UTC)


def test_text_over_limit_refused_with_count(session):
    post = new_post(session, text="x" * 3001)
    with pytest.raises(posts.InvalidText, match="3,001"):
        approve(session, post)
    assert post.text == "x" * 3001


def test_page_author_needs_page_rights(session):
    post = new_post(session, author_organization_id="99")
    with pytest.raises(posts.CannotPostAs):
        approve(session, post, rights=PAGE_RIGHTS)
    with pytest.raises(posts.CannotPostAs):
        approve(session, post, rights=None)
    post.author_organization_id = "42"
    approve(session, post, rights=PAGE_RIGHTS)
    assert post.status == PostStatus.SCHEDULED


def test_claim_skips_changed_content(session):
    post = new_post(session)
    approve(session, post)
    post.text = "changed behind the rules' back"
    result = posts.claim_due(session, now=NOW + timedelta(hours=2), lease=timedelta(minutes=5), limit=10, grace=timedelta(hours=1))
    assert result.claimed == []
    assert result.voided == [post.id]
    assert post.status == PostStatus.DRAFT


def test_claim_marks_late_post_missed(session):
    post = new_post(session)
    approve(session, post)
    result = posts.claim_due(session, now=NOW + timedelta(hours=3), lease=timedelta(minutes=5), limit=10, grace=timedelta(minutes=60))
    assert result.missed == [post.id]
    assert post.status == PostStatus.MISSED


def test_claim_then_lease_expiry(session):
    sent, unsent = new_post(session), new_post(session, text="second")
    approve(session, sent)
    approve(session, unsent)
    due = NOW + timedelta(hours=1, seconds=5)
    result = posts.claim_due(session, now=due, lease=timedelta(minutes=5), limit=10, grace=timedelta(hours=1))
    assert sorted(result.claimed) == sorted([sent.id, unsent.id])
    session.expire_all()
    posts.mark_create_sent(session, sent.id, due)
    rescheduled, unknown = posts.recover_expired_leases(session, due + timedelta(minutes=6))
    assert rescheduled == [unsent.id]
    assert unknown == [sent.id]
    session.expire_all()
    assert session.get(Post, sent.id).status == PostStatus.OUTCOME_UNKNOWN
    assert session.get(Post, unsent.id).status == PostStatus.SCHEDULED


def test_draft_never_claimed(session):
    new_post(session)
    result = posts.claim_due(session, now=NOW + timedelta(days=1), lease=timedelta(minutes=5), limit=10, grace=timedelta(days=2))
    assert result.claimed == [] and result.voided == [] and result.missed == []


def test_disconnect_returns_waiting_posts_to_draft(session):
    first, second = new_post(session), new_post(session, text="two")
    approve(session, first)
    approve(session, second)
    assert posts.return_owner_posts_to_draft(session, "T1", "U1", NOW) == 2
    assert first.status == second.status == PostStatus.DRAFT
    assert first.approval_fingerprint is None
