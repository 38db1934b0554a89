"""The App Home: what it shows, its size limits, and publishing it through Slack."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from bot.views.home import HomeConnection, HomeData, HomePost, build_home
from storage.models import PostStatus
from tests.bot import app_helpers
from tests.bot.app_helpers import add_post, connect_user
from tests.fakes import slack_requests

NOW = datetime(2027, 1, 1, 12, 0, tzinfo=UTC)

app_harness = app_helpers.app_harness


def view_text(blocks) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_home_first_visit_welcome(app_harness):
    status, _, _ = app_harness.post(slack_requests.app_home_opened("U1"))
    assert status == 200
    first = view_text(app_harness.fake_slack.home_view("U1")["blocks"])
    assert "Welcome" in first
    assert "Not connected" in first

    app_harness.post(slack_requests.app_home_opened("U1"))
    assert "Welcome" not in view_text(app_harness.fake_slack.home_view("U1")["blocks"])


def test_home_messages_tab_publishes_nothing(app_harness):
    app_harness.post(slack_requests.app_home_opened("U1", tab="messages"))
    assert app_harness.fake_slack.calls_to("views.publish") == []


def test_home_groups_upcoming_by_user_day(app_harness):
    app_harness.fake_slack.add_user("U1", tz="Asia/Tokyo")
    connect_user(app_harness)
    # 2027-01-01 16:00 UTC is January 2 in Tokyo.
    add_post(app_harness, status=PostStatus.SCHEDULED.value, scheduled_at=NOW + timedelta(hours=4), text="Tokyo morning")
    app_harness.post(slack_requests.app_home_opened("U1"))
    text = view_text(app_harness.fake_slack.home_view("U1")["blocks"])
    assert "Saturday, January 2, 2027" in text
    assert "01:00 JST" in text
    assert "Connected as *Ada Lovelace*" in text


def test_home_post_actions_use_id_and_revision(app_harness):
    post_id = add_post(app_harness, status=PostStatus.FAILED.value, failure_reason="LinkedIn said no")
    app_harness.post(slack_requests.app_home_opened("U1"))
    blocks = app_harness.fake_slack.home_view("U1")["blocks"]
    elements = [element for block in blocks if block["type"] == "actions" for element in block["elements"]]
    by_action = {element["action_id"]: element.get("value") for element in elements}
    assert by_action["post_edit"] == f"{post_id}:1"
    assert by_action["post_retry"] == f"{post_id}:1"
    assert by_action["post_discard"] == f"{post_id}:1"
    assert "LinkedIn said no" in view_text(blocks)


def test_home_shows_page_names_live(app_harness):
    app_harness.fake_linkedin.add_organization("2414183", "Acme Corp")
    connect_user(app_harness, organization_ids=("2414183", "999"))
    app_harness.post(slack_requests.app_home_opened("U1"))
    text = view_text(app_harness.fake_slack.home_view("U1")["blocks"])
    assert "Acme Corp" in text
    assert "999" in text  # no name from LinkedIn: the id is shown


def test_home_hundreds_of_posts_within_limits(app_harness):
    connect_user(app_harness)
    long_text = "Long <b>&</b> text " * 200
    for index in range(120):
        add_post(app_harness, status=PostStatus.SCHEDULED.value, scheduled_at=NOW + timedelta(hours=index * 5), text=long_text)
    for status in (PostStatus.DRAFT, PostStatus.FAILED, PostStatus.MISSED, PostStatus.PUBLISHED):
        for _ in range(60):
            add_post(app_harness, status=status.value, text=long_text, failure_reason="reason " * 100,
                     linkedin_post_urn="urn:li:share:1" if status == PostStatus.PUBLISHED else None,
                     published_at=NOW if status == PostStatus.PUBLISHED else None)

    app_harness.post(slack_requests.app_home_opened("U1"))
    view = app_harness.fake_slack.home_view("U1")
    assert view is not None, "the fake rejected the view"
    assert len(view["blocks"]) <= 100
    assert len(json.dumps(view["blocks"]).encode()) <= 250_000
    text = view_text(view["blocks"])
    assert "110 more" in text
    assert "<b>" not in text
    assert "&lt;b&gt;&amp;&lt;/b&gt;" in text


def test_home_rate_limited_publish_is_retried(app_harness):
    app_harness.fake_slack.rate_limit("views.publish", times=1, retry_after=1)
    started = time.monotonic()
    app_harness.post(slack_requests.app_home_opened("U1"))
    assert len(app_harness.fake_slack.calls_to("views.publish")) == 2
    assert time.monotonic() - started >= 1
    assert app_harness.fake_slack.home_view("U1") is not None


def test_build_home_escapes_and_shortens():
    post = HomePost(id=1, revision=3, status="draft", text="<!channel> & " + "x" * 5000, author="your profile", updated_at=NOW)
    data = HomeData(timezone="UTC", drafts=[post], drafts_total=1,
                    connection=HomeConnection("A <b>", [("1", "P&G")], NOW + timedelta(days=60), personal_only=True))
    blocks = build_home(data)
    text = view_text(blocks)
    assert "<!channel>" not in text
    assert "&lt;!channel&gt; &amp;" in text
    assert "P&amp;G" in text
    assert "own profile only" in text
    assert all(len(block.get("text", {}).get("text", "")) <= 3000 for block in blocks)


def test_build_home_without_ai_hides_ai_button():
    blocks = build_home(HomeData(timezone="UTC", ai_enabled=False))
    action_ids = [element["action_id"] for block in blocks if block["type"] == "actions" for element in block["elements"]]
    assert "home_write_post" in action_ids
    assert "home_new_ai_draft" not in action_ids
