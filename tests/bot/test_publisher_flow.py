"""The publisher against FakeLinkedIn and FakeSlack on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from bot.publisher import Outcome, Publisher
from bot.reminders import send_expiry_reminders
from bot.views import notices
from storage import posts as lifecycle
from storage.db import transaction
from storage.models import PostStatus
from tests.bot.app_helpers import make_harness
from tests.bot.publisher_helpers import (
    OWNER,
    TEAM,
    action_ids,
    approved_post,
    connect,
    dms_to,
    load_post,
)
from tests.fakes import linkedin_server as fakes
from tests.fakes.slack_requests import block_action

TRICKY_TEXT = "Launch day (finally)! Thanks @team & #hashtag fans <3 * _ ~ | {x} [y] \\ done."


@pytest.fixture
def harness(db_engine, clock):
    harness = make_harness(
        db_engine,
        clock=clock,
        with_openai=False,
        linkedin_options={"image_processing_polls": 0, "clock": lambda: clock().timestamp()},
    )
    yield harness
    harness.close()


@pytest.fixture
def publisher(harness):
    publisher = Publisher(harness.services, max_workers=4)
    yield publisher
    publisher.shutdown()


def test_publisher_publishes_due_post_once(harness, publisher):
    connect(harness)
    post_id = approved_post(harness, TRICKY_TEXT)

    counts = publisher.run_once()
    again = publisher.run_once()

    fake = harness.fake_linkedin
    assert counts[Outcome.PUBLISHED] == 1
    assert again.claimed == 0
    assert fake.create_requests == 1
    assert fake.posts[0].text == TRICKY_TEXT
    post = load_post(harness, post_id)
    assert post.status == PostStatus.PUBLISHED
    assert post.linkedin_post_urn == fake.posts[0].urn
    messages = dms_to(harness)
    assert len(messages) == 1
    assert f"https://www.linkedin.com/feed/update/{post.linkedin_post_urn}/" in messages[0]["text"]
    assert harness.fake_slack.home_view(OWNER) is not None


def test_publisher_sends_page_post_as_organization(harness, publisher):
    harness.fake_linkedin.add_organization("2414183", "Acme")
    connect(harness, organization_ids=("2414183",))
    approved_post(harness, "Page news", organization_id="2414183")

    publisher.run_once()

    assert harness.fake_linkedin.posts[0].author == "urn:li:organization:2414183"


def test_publisher_never_sends_unapproved_posts(harness, publisher):
    connect(harness)
    services, now = harness.services, harness.clock()
    edited_id = approved_post(harness, "Approved text")
    tampered_id = approved_post(harness, "Approved too")
    with transaction(services.sessions) as session:
        lifecycle.create_draft(session, team_id=TEAM, owner_user_id=OWNER, now=now, text="Just a draft")
        edited = lifecycle.get_post(session, edited_id)
        lifecycle.edit_post(session, edited, team_id=TEAM, actor_user_id=OWNER, now=now, text="Edited after approval")
        # A change that skipped the lifecycle: the fingerprint no longer matches.
        lifecycle.get_post(session, tampered_id).text = "Changed behind the approval"

    counts = publisher.run_once()

    assert harness.fake_linkedin.create_requests == 0
    assert counts.voided == 1
    assert load_post(harness, edited_id).status == PostStatus.DRAFT
    assert load_post(harness, tampered_id).status == PostStatus.DRAFT


FAILURES = [
    pytest.param(fakes.access_denied_response(), PostStatus.FAILED, notices.POST_EDIT, id="permission-denied"),
    pytest.param(
        fakes.error_response(422, None, "Field Value validation failed in REQUEST_BODY [/commentary]", input_error_codes=["FIELD_LENGTH_TOO_LONG"]),
        PostStatus.FAILED, notices.POST_EDIT, id="text-rejected",
    ),
    pytest.param(fakes.duplicate_post_response("urn:li:share:1"), PostStatus.FAILED, notices.POST_EDIT, id="duplicate"),
    pytest.param(fakes.version_retired_response("202611"), PostStatus.FAILED, notices.POST_EDIT, id="version-retired"),
    pytest.param(fakes.server_error_response(500), PostStatus.OUTCOME_UNKNOWN, notices.OUTCOME_PUBLISHED, id="server-error"),
    pytest.param(fakes.drop_after_accept(), PostStatus.OUTCOME_UNKNOWN, notices.OUTCOME_PUBLISHED, id="dropped"),
]


@pytest.mark.parametrize(("response", "status", "button"), FAILURES)
def test_publisher_failure_ends_in_state_with_one_dm(harness, publisher, response, status, button):
    connect(harness)
    post_id = approved_post(harness, "A post that meets trouble")
    harness.fake_linkedin.script("posts.create", response)

    publisher.run_once()
    publisher.run_once()

    assert load_post(harness, post_id).status == status
    assert harness.fake_linkedin.create_requests == 1
    messages = dms_to(harness)
    assert len(messages) == 1
    assert button in action_ids(messages[0])


def test_publisher_logs_retired_version_for_operator(harness, publisher, caplog):
    connect(harness)
    approved_post(harness, "Versioned")
    harness.fake_linkedin.script("posts.create", fakes.version_retired_response("202611"))

    with caplog.at_level(logging.ERROR, logger="bot.publisher"):
        publisher.run_once()

    assert any("LINKEDIN_VERSION" in record.getMessage() for record in caplog.records if record.levelno == logging.ERROR)


def test_publisher_expired_token_holds_owner_posts(harness, publisher):
    token = connect(harness)
    first = approved_post(harness, "First")
    second = approved_post(harness, "Second")
    later = approved_post(harness, "Later", scheduled_at=harness.clock() + timedelta(days=1))
    harness.fake_linkedin.expire_token(token)

    publisher.run_once()

    statuses = {load_post(harness, post_id).status for post_id in (first, second, later)}
    assert statuses == {PostStatus.NEEDS_RECONNECT}
    assert harness.fake_linkedin.create_requests <= 2
    assert harness.fake_linkedin.posts == []
    messages = dms_to(harness)
    assert len(messages) == 1
    assert notices.HOME_CONNECT in action_ids(messages[0])


def test_publisher_reconnect_resumes_held_posts(harness, publisher):
    token = connect(harness)
    post_id = approved_post(harness, "Held then sent")
    harness.fake_linkedin.expire_token(token)
    publisher.run_once()

    connect(harness)
    with transaction(harness.services.sessions) as session:
        lifecycle.resume_after_reconnect(session, TEAM, OWNER, harness.clock())
    publisher.run_once()

    assert load_post(harness, post_id).status == PostStatus.PUBLISHED
    assert len(harness.fake_linkedin.posts) == 1


def test_publisher_retries_rate_limit_then_fails(harness, publisher):
    connect(harness)
    post_id = approved_post(harness, "Throttled")
    fake = harness.fake_linkedin
    fake.script("posts.create", *[fakes.rate_limited_response(retry_after=90) for _ in range(4)])

    publisher.run_once()
    post = load_post(harness, post_id)
    assert post.status == PostStatus.SCHEDULED
    assert post.next_attempt_at == harness.clock() + timedelta(seconds=90)
    assert dms_to(harness) == []

    for _ in range(3):
        harness.clock.advance(minutes=15)
        publisher.run_once()

    assert fake.create_requests == 4
    assert load_post(harness, post_id).status == PostStatus.FAILED
    messages = dms_to(harness)
    assert len(messages) == 1
    assert notices.POST_RETRY in action_ids(messages[0])


def test_publisher_retry_succeeds_after_transient_failure(harness, publisher):
    connect(harness)
    post_id = approved_post(harness, "Second time lucky")
    harness.fake_linkedin.script("posts.create", fakes.rate_limited_response(retry_after=None))

    publisher.run_once()
    harness.clock.advance(seconds=31)
    publisher.run_once()

    assert load_post(harness, post_id).status == PostStatus.PUBLISHED
    assert len(harness.fake_linkedin.posts) == 1
    assert len(dms_to(harness)) == 1


def test_publisher_records_duplicate_of_own_post(harness, publisher):
    connect(harness)
    first = approved_post(harness, "Same words")
    publisher.run_once()
    second = approved_post(harness, "Same words")

    publisher.run_once()

    urn = load_post(harness, first).linkedin_post_urn
    assert load_post(harness, second).status == PostStatus.PUBLISHED
    assert load_post(harness, second).linkedin_post_urn == urn
    assert len(harness.fake_linkedin.posts) == 1


def test_publisher_finds_page_post_after_unclear_answer(harness, publisher):
    harness.fake_linkedin.add_organization("2414183", "Acme")
    connect(harness, organization_ids=("2414183",))
    post_id = approved_post(harness, "Page post (with parentheses)", organization_id="2414183")
    harness.fake_linkedin.script("posts.create", fakes.server_error_response(500, accept=True))

    publisher.run_once()

    post = load_post(harness, post_id)
    assert post.status == PostStatus.PUBLISHED
    assert post.linkedin_post_urn == harness.fake_linkedin.posts[0].urn
    assert harness.fake_linkedin.create_requests == 1
    assert len(dms_to(harness)) == 1


def test_publisher_lost_page_role_fails_in_owner_words(harness, publisher):
    connect(harness, organization_ids=())
    post_id = approved_post(harness, "For a page I left", organization_id="999", organization_ids=("999",))

    publisher.run_once()

    post = load_post(harness, post_id)
    assert post.status == PostStatus.FAILED
    assert "page" in post.failure_reason
    assert harness.fake_linkedin.create_requests == 0
    assert len(dms_to(harness)) == 1


def test_publisher_refreshes_expiring_token(harness, publisher):
    fake = harness.fake_linkedin
    refresh = fake._new_token("refresh", fake.login_member_id, frozenset(fakes.ALL_SCOPES), 3600 * 24 * 300)
    old = connect(harness, expires_in=timedelta(minutes=5), refresh_token=refresh.value, refresh_expires_in=timedelta(days=300))
    post_id = approved_post(harness, "Fresh token")

    publisher.run_once()

    assert load_post(harness, post_id).status == PostStatus.PUBLISHED
    with harness.services.sessions() as session:
        from storage.connections import load_connection

        stored = load_connection(session, harness.services.vault, TEAM, OWNER)
    assert stored.access_token != old
    assert stored.refresh_token == refresh.value
    assert stored.access_token_expires_at > harness.clock() + timedelta(days=59)


def test_publisher_missed_post_asks_owner(harness, publisher):
    connect(harness)
    post_id = approved_post(harness, "Too late", scheduled_at=harness.clock() + timedelta(minutes=5))
    harness.clock.advance(minutes=5 + 61)

    counts = publisher.run_once()

    assert counts.missed == 1
    assert load_post(harness, post_id).status == PostStatus.MISSED
    assert harness.fake_linkedin.create_requests == 0
    messages = dms_to(harness)
    assert len(messages) == 1
    assert action_ids(messages[0]) == [notices.PUBLISH_NOW, notices.RESCHEDULE]


def test_publisher_late_post_within_grace_goes_out(harness, publisher):
    connect(harness)
    post_id = approved_post(harness, "Slightly late", scheduled_at=harness.clock() + timedelta(minutes=5))
    harness.clock.advance(minutes=5 + 30)

    publisher.run_once()

    assert load_post(harness, post_id).status == PostStatus.PUBLISHED


def test_publish_now_button_publishes_missed_post(harness, publisher):
    connect(harness)
    post_id = approved_post(harness, "Missed then sent", scheduled_at=harness.clock() + timedelta(minutes=5))
    harness.clock.advance(hours=3)
    publisher.run_once()
    revision = load_post(harness, post_id).revision

    response_url = harness.fake_slack.new_response_url()
    status, _, _ = harness.post(block_action(notices.PUBLISH_NOW, f"{post_id}:{revision}", response_url=response_url))
    publisher.run_once()

    assert status == 200
    assert load_post(harness, post_id).status == PostStatus.PUBLISHED
    assert harness.fake_linkedin.create_requests == 1
    assert "Publishing your post now" in harness.fake_slack.responses(response_url)[0]["text"]


def test_publish_now_button_rejects_other_user(harness, publisher):
    connect(harness)
    post_id = approved_post(harness, "Not yours", scheduled_at=harness.clock() + timedelta(minutes=5))
    harness.clock.advance(hours=3)
    publisher.run_once()
    revision = load_post(harness, post_id).revision

    response_url = harness.fake_slack.new_response_url()
    harness.post(block_action(notices.PUBLISH_NOW, f"{post_id}:{revision}", user_id="U2", response_url=response_url))
    publisher.run_once()

    assert load_post(harness, post_id).status == PostStatus.MISSED
    assert "Only the person" in harness.fake_slack.responses(response_url)[0]["text"]


def test_outcome_buttons_settle_unknown_post(harness, publisher):
    connect(harness)
    kept = approved_post(harness, "Maybe out")
    harness.fake_linkedin.script("posts.create", fakes.server_error_response(503))
    publisher.run_once()
    again = approved_post(harness, "Maybe out too")
    harness.fake_linkedin.script("posts.create", fakes.server_error_response(503))
    publisher.run_once()

    harness.post(block_action(notices.OUTCOME_PUBLISHED, f"{kept}:1", response_url=harness.fake_slack.new_response_url()))
    harness.post(block_action(notices.OUTCOME_PUBLISH_AGAIN, f"{again}:1", response_url=harness.fake_slack.new_response_url()))
    publisher.run_once()

    assert load_post(harness, kept).status == PostStatus.PUBLISHED
    assert load_post(harness, again).status == PostStatus.PUBLISHED
    assert harness.fake_linkedin.create_requests == 3


def test_retry_button_from_home_republishes_failed_post(harness, publisher):
    connect(harness)
    post_id = approved_post(harness, "Denied once")
    harness.fake_linkedin.script("posts.create", fakes.access_denied_response())
    publisher.run_once()
    revision = load_post(harness, post_id).revision

    harness.post(block_action(notices.POST_RETRY, f"{post_id}:{revision}", container="view"))
    publisher.run_once()

    assert load_post(harness, post_id).status == PostStatus.PUBLISHED
    assert any("Trying your post again" in m["text"] for m in dms_to(harness))


def test_reminder_sent_once_per_expiry(harness):
    connect(harness, expires_in=timedelta(days=3))

    first = send_expiry_reminders(harness.services)
    second = send_expiry_reminders(harness.services)

    assert first == 1
    assert second == 0
    messages = dms_to(harness)
    assert len(messages) == 1
    assert notices.HOME_CONNECT in action_ids(messages[0])


def test_reminder_for_post_after_expiry(harness):
    connect(harness, expires_in=timedelta(days=30))
    approved_post(harness, "Next month", scheduled_at=harness.clock() + timedelta(days=40))
    approved_post(harness, "Next week", scheduled_at=harness.clock() + timedelta(days=7))

    sent = send_expiry_reminders(harness.services)

    assert sent == 1
    assert "1 scheduled post is due after that" in dms_to(harness)[0]["blocks"][0]["text"]["text"]


def test_reminder_skips_distant_expiry(harness):
    connect(harness, expires_in=timedelta(days=30))

    assert send_expiry_reminders(harness.services) == 0


def _png(width: int, height: int) -> bytes:
    import struct
    import zlib

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk)) + b"\x00" * 16


def test_publisher_uploads_images_before_marking_sent(harness, publisher):
    connect(harness)
    services, now = harness.services, harness.clock()
    with transaction(services.sessions) as session:
        post = lifecycle.create_draft(session, team_id=TEAM, owner_user_id=OWNER, now=now, text="With a chart")
        lifecycle.add_image(session, post, team_id=TEAM, actor_user_id=OWNER, now=now, data=_png(4, 3), content_type="image/png", width=4, height=3, alt_text="Sales chart")
        rights = lifecycle.PostingRights(scopes=frozenset({"w_member_social"}))
        lifecycle.approve(session, post, team_id=TEAM, actor_user_id=OWNER, expected_revision=post.revision, scheduled_at=None, rights=rights, now=now)
        post_id = post.id
    harness.fake_linkedin.script("images.upload", fakes.server_error_response(500))

    failed_upload = publisher.run_once()

    assert harness.fake_linkedin.create_requests == 0
    assert failed_upload[Outcome.PUBLISHED] == 0
    retried = load_post(harness, post_id)
    assert retried.status == PostStatus.SCHEDULED
    assert retried.create_sent_at is None

    harness.clock.advance(minutes=15)
    publisher.run_once()

    fake = harness.fake_linkedin
    assert fake.create_requests == 1
    assert fake.posts[0].body["content"]["media"]["altText"] == "Sales chart"
    image_urn = fake.posts[0].body["content"]["media"]["id"]
    assert fake.images[image_urn].owner == fake.posts[0].author
    assert load_post(harness, post_id).status == PostStatus.PUBLISHED


def test_publisher_second_outage_gets_its_own_dm(harness, publisher):
    token = connect(harness)
    approved_post(harness, "Held then sent")
    harness.fake_linkedin.expire_token(token)
    publisher.run_once()
    publisher.wait_for_notifications()

    token = connect(harness)
    with transaction(harness.services.sessions) as session:
        lifecycle.resume_after_reconnect(session, TEAM, OWNER, harness.clock())
    publisher.run_once()
    harness.clock.advance(days=30)
    approved_post(harness, "Held in the second outage")
    harness.fake_linkedin.expire_token(token)
    publisher.run_once()
    publisher.wait_for_notifications()

    reconnect_messages = [m for m in dms_to(harness) if notices.HOME_CONNECT in action_ids(m)]
    assert len(reconnect_messages) == 2
