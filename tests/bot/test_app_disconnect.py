"""Disconnect and delete-my-data: tokens and LinkedIn data leave the database files at once."""

from __future__ import annotations

import glob
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from storage.models import AuditEntry, LinkedInConnection, Post, PostStatus, SlackUser
from tests.bot import app_helpers
from tests.bot.app_helpers import add_post, connect_user, make_harness
from tests.fakes import slack_requests

app_harness = app_helpers.app_harness


@pytest.fixture
def sqlite_harness(sqlite_engine, clock):
    harness = make_harness(sqlite_engine, clock=clock)
    yield harness
    harness.close()


def database_bytes(engine) -> bytes:
    """Every byte of the SQLite database and its WAL and journal files."""
    path = engine.url.database
    return b"".join(open(name, "rb").read() for name in sorted(glob.glob(path + "*")))


def disconnect_command(harness, user_id="U1"):
    response_url = harness.fake_slack.new_response_url()
    status, _, _ = harness.post(slack_requests.slash_command("disconnect", user_id=user_id, response_url=response_url))
    assert status == 200
    return harness.fake_slack.responses(response_url)


def test_disconnect_leaves_no_linkedin_data_in_files(sqlite_harness, sqlite_engine):
    harness = sqlite_harness
    harness.fake_linkedin.add_member("zXy9", "Grace", "Hopper")
    connection = connect_user(harness, organization_ids=("2414183",))
    before = database_bytes(sqlite_engine)
    assert connection.member_urn.encode() in before
    assert connection.member_name.encode() in before

    [reply] = disconnect_command(harness)

    after = database_bytes(sqlite_engine)
    assert connection.access_token.encode() not in after
    assert connection.member_urn.encode() not in after
    assert connection.member_name.encode() not in after
    assert b"2414183" not in after
    assert "disconnected" in reply["text"]


def test_disconnect_revokes_token(app_harness):
    connection = connect_user(app_harness)
    disconnect_command(app_harness)
    assert connection.access_token in app_harness.fake_linkedin.revoked_tokens


def test_disconnect_returns_scheduled_posts_to_draft(app_harness):
    connect_user(app_harness)
    later = app_harness.clock() + timedelta(days=1)
    scheduled = add_post(app_harness, status=PostStatus.SCHEDULED.value, scheduled_at=later, approved_by="U1",
                         approved_at=app_harness.clock(), approval_fingerprint="x")
    other_user = add_post(app_harness, status=PostStatus.SCHEDULED.value, scheduled_at=later, user_id="U2")

    [reply] = disconnect_command(app_harness)

    with app_harness.services.sessions() as session:
        post = session.get(Post, scheduled)
        assert post.status == PostStatus.DRAFT.value
        assert post.approval_fingerprint is None
        assert session.get(Post, other_user).status == PostStatus.SCHEDULED.value
    assert "1 scheduled post(s) went back to drafts" in reply["text"]


def test_disconnect_twice_is_harmless(app_harness):
    connect_user(app_harness)
    disconnect_command(app_harness)
    [reply] = disconnect_command(app_harness)
    assert "was not connected" in reply["text"]
    with app_harness.services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(LinkedInConnection)) == 0


def test_disconnect_audit_row_has_no_linkedin_data(app_harness):
    connection = connect_user(app_harness)
    disconnect_command(app_harness)
    with app_harness.services.sessions() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "linkedin_disconnected")).all()
    assert connection.member_urn not in entry.detail
    assert connection.member_name not in entry.detail


def test_home_disconnect_button_refreshes_home(app_harness):
    connect_user(app_harness)
    request = slack_requests.block_action("home_disconnect_linkedin", container="view", view_type="home", view_id="VHOME")
    status, _, _ = app_harness.post(request)
    assert status == 200
    home = app_harness.fake_slack.home_view("U1")
    assert "Not connected" in str(home["blocks"])
    with app_harness.services.sessions() as session:
        assert session.scalar(select(LinkedInConnection)) is None


def test_delete_my_data_removes_everything(sqlite_harness, sqlite_engine):
    harness = sqlite_harness
    connection = connect_user(harness)
    add_post(harness, text="my secret draft words")
    add_post(harness, text="someone else's draft", user_id="U2")
    harness.post(slack_requests.app_home_opened("U1"))

    response_url = harness.fake_slack.new_response_url()
    harness.post(slack_requests.slash_command("delete-my-data", response_url=response_url))
    [question] = harness.fake_slack.responses(response_url)
    assert any(block["type"] == "actions" for block in question["blocks"])

    click = slack_requests.block_action("delete_my_data_confirm", value="confirm", response_url=response_url)
    status, _, _ = harness.post(click)
    assert status == 200

    answer = harness.fake_slack.responses(response_url)[-1]
    assert "Your data is deleted" in answer["text"]
    with harness.services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Post).where(Post.owner_user_id == "U1")) == 0
        assert session.scalar(select(func.count()).select_from(Post).where(Post.owner_user_id == "U2")) == 1
        assert session.scalar(select(SlackUser).where(SlackUser.user_id == "U1")) is None
        assert session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.user_id == "U1")) == 0
    raw = database_bytes(sqlite_engine)
    assert b"my secret draft words" not in raw
    assert connection.member_name.encode() not in raw
    assert connection.access_token in harness.fake_linkedin.revoked_tokens
