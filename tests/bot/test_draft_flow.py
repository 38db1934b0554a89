"""AI drafting and approval through signed Slack requests to the real WSGI app and the fakes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.agent import Agent
from storage.db import transaction
from storage.models import ConversationTurn, PostStatus
from storage.posts import fingerprint
from storage.profiles import ProfileFields, save_profile
from tests.bot.app_helpers import make_harness
from tests.bot.draft_helpers import (
    OTHER_USER,
    USER,
    card_blocks,
    click,
    connect,
    ephemeral_texts,
    find_element,
    load_post,
    only_post_id,
)
from tests.fakes.openai_server import DEFAULT_API_KEY
from tests.fakes.slack_requests import (
    assistant_thread_started,
    event_callback,
    message_im,
    message_im_event,
    slash_command,
)


@pytest.fixture
def harness(db_engine, clock):
    harness = make_harness(db_engine, clock=clock)
    yield harness
    harness.close()


def start_by_dm(harness, text: str = "Our beta launch went live today") -> int:
    status, _, _ = harness.post(message_im(USER, text))
    assert status == 200
    harness.run_tasks()
    return only_post_id(harness)


def reply(harness, post, text: str) -> None:
    status, _, _ = harness.post(message_im(USER, text, thread_ts=post.thread_ts, channel=post.channel_id))
    assert status == 200
    harness.run_tasks()


def test_dm_brief_produces_draft_card(harness):
    post_id = start_by_dm(harness)
    post = load_post(harness, post_id)

    assert post.source == "ai"
    assert "Our beta launch went live today" in post.text
    assert post.channel_id == "D1"
    assert post.thread_ts
    assert post.card_ts
    blocks = card_blocks(harness, post)
    assert find_element(blocks, "card_approve_schedule")["value"] == f"{post.id}:{post.revision}"
    card_text = json.dumps(blocks)
    assert f"{len(post.text):,} / 3,000 characters" in card_text
    assert "A photo of the team at the launch" in card_text
    thread = [m for m in harness.fake_slack.messages("D1") if m.get("thread_ts") == post.thread_ts]
    assert thread[0]["text"].startswith("Drafting")


def test_thread_reply_revises_with_profile_and_conversation(harness):
    with transaction(harness.services.sessions) as session:
        profile = ProfileFields(role="CTO", company="Acme Robotics", audience="factory managers", language="German", tone="dry")
        save_profile(session, "T1", USER, profile, harness.clock())
    post_id = start_by_dm(harness, "Brief about robots")
    first = load_post(harness, post_id)
    harness.fake_openai.respond_with({"text": "Kürzere Fassung #robots", "media_suggestions": []})

    reply(harness, first, "Make it shorter")

    revised = load_post(harness, post_id)
    assert revised.text == "Kürzere Fassung #robots"
    assert revised.revision > first.revision
    assert revised.card_ts != first.card_ts
    assert "card_approve_schedule" in json.dumps(card_blocks(harness, revised))
    request = harness.fake_openai.requests[-1]
    system = request["messages"][0]["content"]
    assert "Acme Robotics" in system
    assert "German" in system
    assert "factory managers" in system
    contents = [(m["role"], m["content"]) for m in request["messages"][1:]]
    assert contents[0] == ("user", "Brief about robots")
    assert contents[1][0] == "assistant"
    assert first.text in json.loads(contents[1][1])["text"]
    assert contents[2] == ("user", "Make it shorter")
    assert request["response_format"]["json_schema"]["strict"] is True


def test_approve_on_older_card_is_refused(harness):
    connect(harness)
    post_id = start_by_dm(harness)
    first = load_post(harness, post_id)
    old_blocks = card_blocks(harness, first)
    reply(harness, first, "Add a hashtag")

    click(harness, first, "card_approve_schedule", blocks=old_blocks, date="2027-01-05", time="10:00")

    post = load_post(harness, post_id)
    assert post.status == PostStatus.DRAFT
    assert post.approved_by is None
    assert any("out of date" in text for text in ephemeral_texts(harness))


def test_approve_with_time_schedules_with_fingerprint(harness):
    connect(harness)
    post = load_post(harness, start_by_dm(harness))

    click(harness, post, "card_approve_schedule", date="2027-01-05", time="10:00")

    approved = load_post(harness, post.id)
    assert approved.status == PostStatus.SCHEDULED
    assert approved.scheduled_at == datetime(2027, 1, 5, 15, 0, tzinfo=UTC)  # New York is UTC-5 in January
    assert approved.approved_by == USER
    assert approved.approval_fingerprint == fingerprint(approved)
    card = json.dumps(card_blocks(harness, approved))
    assert "Tue 5 Jan 2027, 10:00 (UTC-05:00)" in card
    assert "card_unschedule" in card
    assert "card_approve_schedule" not in card


def test_edit_after_approval_voids_it(harness):
    connect(harness)
    post = load_post(harness, start_by_dm(harness))
    click(harness, post, "card_approve_schedule", date="2027-01-05", time="10:00")
    approved = load_post(harness, post.id)

    reply(harness, approved, "Mention our customers")

    edited = load_post(harness, post.id)
    assert edited.status == PostStatus.DRAFT
    assert edited.approved_by is None
    assert edited.approval_fingerprint is None


def test_other_users_click_changes_nothing(harness):
    connect(harness)
    post = load_post(harness, start_by_dm(harness))

    click(harness, post, "card_approve_schedule", user_id=OTHER_USER, date="2027-01-05", time="10:00")
    click(harness, post, "card_discard", user_id=OTHER_USER)

    after = load_post(harness, post.id)
    assert after is not None
    assert after.status == PostStatus.DRAFT
    assert after.revision == post.revision
    assert any("Only the person who wrote this post" in text for text in ephemeral_texts(harness, OTHER_USER))


def test_double_click_schedules_once(harness):
    connect(harness)
    post = load_post(harness, start_by_dm(harness))
    blocks = card_blocks(harness, post)

    click(harness, post, "card_approve_schedule", blocks=blocks, date="2027-01-05", time="10:00")
    first = load_post(harness, post.id)
    click(harness, post, "card_approve_schedule", blocks=blocks, date="2027-01-05", time="10:00")

    second = load_post(harness, post.id)
    assert second.status == PostStatus.SCHEDULED
    assert second.approved_at == first.approved_at
    assert second.revision == first.revision
    assert any("already scheduled for Tue 5 Jan 2027, 10:00 (UTC-05:00)" in text for text in ephemeral_texts(harness))


def test_approve_without_connection_offers_connect(harness):
    post = load_post(harness, start_by_dm(harness))

    click(harness, post, "card_approve_schedule", date="2027-01-05", time="10:00")

    assert load_post(harness, post.id).status == PostStatus.DRAFT
    ephemeral = harness.fake_slack.ephemerals()[-1]
    assert "Connect your LinkedIn account" in ephemeral["text"]
    assert "home_connect_linkedin" in json.dumps(ephemeral["blocks"])


def test_redelivered_event_calls_model_once(harness):
    request = event_callback(message_im_event(USER, "Write about our hiring"), event_id="Ev0REDELIVER1")

    harness.post(request)
    harness.post(request, headers={"x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"})
    harness.run_tasks()

    assert only_post_id(harness)
    assert len(harness.fake_openai.requests) == 1


def test_bot_messages_and_edits_are_ignored(harness):
    edited = message_im_event(USER, "changed text")
    edited["subtype"] = "message_changed"
    from_bot = message_im_event(USER, "I am the bot")
    from_bot["bot_id"] = "B0BOT"

    harness.post(event_callback(edited))
    harness.post(event_callback(from_bot))
    harness.run_tasks()

    assert harness.fake_openai.requests == []


def test_model_timeout_keeps_draft_and_conversation(harness):
    post = load_post(harness, start_by_dm(harness))
    settings = harness.settings
    harness.services.extras["agent"] = Agent(DEFAULT_API_KEY, settings.openai_base_url, settings.openai_model, timeout=0.3)
    harness.fake_openai.hang_next(seconds=2)

    reply(harness, post, "Make it funnier")

    after = load_post(harness, post.id)
    assert after.text == post.text
    assert after.revision == post.revision
    roles = [turn.role for turn in after.turns]
    assert roles == ["user", "assistant", "user"]
    thread = [m for m in harness.fake_slack.messages("D1") if m.get("thread_ts") == post.thread_ts]
    assert "timed out" in thread[-1]["text"]


def test_new_command_outside_dm_points_to_dm(harness):
    response_url = harness.fake_slack.new_response_url()

    harness.post(slash_command("new our launch", channel_id="C123", response_url=response_url))
    harness.run_tasks()

    assert "direct messages" in harness.fake_slack.responses(response_url)[-1]["text"]
    post = load_post(harness, only_post_id(harness))
    assert post.channel_id == "D1"
    assert post.card_ts


def test_assistant_thread_started_sets_prompts(harness):
    harness.post(assistant_thread_started(USER, thread_ts="1700000000.000001"))

    call = harness.fake_slack.wait_for("assistant.threads.setSuggestedPrompts")[0]
    assert call["thread_ts"] == "1700000000.000001"
    assert 1 <= len(call["prompts"]) <= 4


def test_assistant_thread_message_drafts_in_that_thread(harness):
    harness.post(message_im(USER, "Post about our offsite", thread_ts="1700000000.000009"))
    harness.run_tasks()

    post = load_post(harness, only_post_id(harness))
    assert post.thread_ts == "1700000000.000009"
    assert harness.fake_slack.calls_to("assistant.threads.setStatus")


def test_profile_command_opens_modal_and_saves(harness):
    from tests.fakes.slack_requests import view_submission

    harness.post(slash_command("profile", response_url=harness.fake_slack.new_response_url()))
    assert harness.fake_slack.wait_for("views.open")[0]["view"]["callback_id"] == "ai_profile"

    values = {"company": {"company": {"type": "plain_text_input", "value": "Acme"}},
              "language": {"language": {"type": "plain_text_input", "value": "French"}}}
    status, _, _ = harness.post(view_submission("ai_profile", values))

    assert status == 200
    with harness.services.sessions() as session:
        from storage.profiles import load_profile

        profile = load_profile(session, "T1", USER)
    assert profile.company == "Acme"
    assert profile.language == "French"


@pytest.fixture
def harness_without_ai(db_engine, clock):
    harness = make_harness(db_engine, clock=clock, with_openai=False)
    yield harness
    harness.close()


def test_without_api_key_offers_writing_by_hand(harness_without_ai):
    harness_without_ai.post(message_im(USER, "Write about our launch"))
    harness_without_ai.run_tasks()

    message = harness_without_ai.fake_slack.messages("D1")[-1]
    assert "not configured" in message["text"]
    assert "home_write_post" in json.dumps(message["blocks"])
    with harness_without_ai.services.sessions() as session:
        assert session.query(ConversationTurn).count() == 0


def test_approval_after_token_expiry_reminds_at_once(harness):
    connect(harness)  # the access token expires 60 days after 2027-01-01, with no refresh token
    post = load_post(harness, start_by_dm(harness))

    click(harness, post, "card_approve_schedule", date="2027-03-10", time="10:00")

    assert load_post(harness, post.id).status == PostStatus.SCHEDULED
    reminders = [m for m in harness.fake_slack.messages() if "home_connect_linkedin" in json.dumps(m.get("blocks") or [])]
    assert len(reminders) == 1
    assert "1 scheduled post is due after that" in json.dumps(reminders[0]["blocks"])


def test_approval_before_token_expiry_sends_no_reminder(harness):
    connect(harness)
    post = load_post(harness, start_by_dm(harness))

    click(harness, post, "card_approve_schedule", date="2027-01-05", time="10:00")

    reminders = [m for m in harness.fake_slack.messages() if "home_connect_linkedin" in json.dumps(m.get("blocks") or [])]
    assert reminders == []
