"""Draft card, modals and drafts list rendered without Slack."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bot.views.draft_card import CardContext, draft_card, escape
from bot.views.drafts_list import drafts_list
from bot.views.modals import alt_text_modal, brief_modal, profile_modal, write_modal
from storage.models import Post, PostImage, PostStatus
from storage.profiles import ProfileFields
from tests.fakes.slack_server import MAX_MESSAGE_BLOCKS, MAX_VIEW_BLOCKS, block_errors

CONTEXT = CardContext(member_name="Ada Lovelace", pages=[("123", "Acme")], tz_name="Asia/Kolkata", now=datetime(2027, 1, 1, tzinfo=UTC))


def make_post(post_id=7, text="Hello <world> & friends #launch", status=PostStatus.DRAFT, images=0, **fields) -> Post:
    post = Post(id=post_id, team_id="T1", owner_user_id="U1", text=text, status=status.value, revision=3,
                media_suggestions=["A team photo"], author_organization_id=None, **fields)
    post.images = [PostImage(id=i + 1, position=i, filename=f"photo{i}.png", content_type="image/png", data=b"x",
                             sha256="0" * 64, width=800, height=600, alt_text="A cat" if i == 0 else "") for i in range(images)]
    return post


def test_card_shows_raw_text_escaped_and_count():
    blocks = draft_card(make_post(), CONTEXT)
    dumped = json.dumps(blocks)
    assert escape("Hello <world> & friends #launch") in dumped
    assert "31 / 3,000 characters" in dumped
    assert "A team photo" in dumped
    assert block_errors(blocks, MAX_MESSAGE_BLOCKS, "/blocks") == []


def test_card_buttons_carry_revision():
    blocks = draft_card(make_post(), CONTEXT)
    values = {e["action_id"]: e.get("value") for b in blocks if b["type"] == "actions" for e in b["elements"]}
    assert values["card_approve_schedule"] == "7:3"
    assert values["card_discard"] == "7:3"
    time_picker = next(e for b in blocks if b["type"] == "actions" for e in b["elements"] if e["action_id"] == "card_time")
    assert time_picker["timezone"] == "Asia/Kolkata"


def test_card_over_length_and_many_images_fit_limits():
    blocks = draft_card(make_post(text="x" * 20000, images=12), CONTEXT)
    assert "too long by 17,000" in json.dumps(blocks)
    assert block_errors(blocks, MAX_MESSAGE_BLOCKS, "/blocks") == []


def test_scheduled_card_shows_local_time_and_unschedule():
    post = make_post(status=PostStatus.SCHEDULED, scheduled_at=datetime(2027, 6, 30, 9, 25, tzinfo=UTC), approved_by="U1")
    dumped = json.dumps(draft_card(post, CONTEXT))
    assert "Wed 30 Jun 2027, 14:55 (UTC+05:30)" in dumped
    assert "card_unschedule" in dumped and "card_approve_schedule" not in dumped


def test_modals_fit_limits():
    for view in (write_modal(make_post(images=1), CONTEXT), write_modal(None, CONTEXT), alt_text_modal(make_post(), 1, "A cat"),
                 profile_modal(ProfileFields(company="Acme")), brief_modal()):
        assert block_errors(view["blocks"], MAX_VIEW_BLOCKS, "/view/blocks") == []
        assert len(view["title"]["text"]) <= 24


def test_write_modal_keeps_over_length_text():
    view = write_modal(make_post(text="y" * 3001), CONTEXT)
    text_input = view["blocks"][0]["element"]
    assert text_input["initial_value"] == "y" * 3001
    assert "max_length" not in text_input


def test_drafts_list_shortens_to_fit():
    posts = [make_post(post_id=i) for i in range(40)]
    blocks = drafts_list(posts, CONTEXT)
    assert len(blocks) <= MAX_MESSAGE_BLOCKS
    assert block_errors(blocks, MAX_MESSAGE_BLOCKS, "/blocks") == []
    assert "And 25 more" in json.dumps(blocks)
