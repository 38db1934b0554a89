"""Writing by hand in the modal, images uploaded in a draft's thread, and time zones end to end."""

from __future__ import annotations

import json
import struct
import zlib
from datetime import UTC, datetime

import pytest

from storage.models import Post, PostStatus
from tests.bot.app_helpers import make_harness
from tests.bot.draft_helpers import USER, connect, load_post, only_post_id
from tests.fakes.slack_requests import message_im, slash_command, view_submission


@pytest.fixture
def harness(db_engine, clock):
    harness = make_harness(db_engine, clock=clock, slack_options={"users": {"U1": {"tz": "Asia/Kolkata"}, "U3": {"tz": "America/New_York"}}})
    yield harness
    harness.close()


def png_bytes(width: int = 2, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = b"".join(b"\x00" + b"\x00\x00\x00" * width for _ in range(height))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def submit(harness, text: str, *, date=None, time=None, approve=False, user_id=USER, tz="Asia/Kolkata", metadata=None):
    values = {
        "text": {"text": {"type": "plain_text_input", "value": text}},
        "author": {"author": {"type": "static_select", "selected_option": {"value": "member"}}},
        "date": {"date": {"type": "datepicker", "selected_date": date}},
        "time": {"time": {"type": "timepicker", "selected_time": time, "timezone": tz}},
        "approve": {"approve": {"type": "checkboxes", "selected_options": [{"value": "approve"}] if approve else []}},
    }
    metadata = metadata or {"post_id": None, "revision": None, "tz": tz}
    status, _headers, body = harness.post(view_submission("draft_write", values, user_id=user_id, private_metadata=json.dumps(metadata)))
    assert status == 200
    return json.loads(body) if body else {}


def count_posts(harness) -> int:
    with harness.services.sessions() as session:
        return session.query(Post).count()


def test_write_command_opens_modal_with_user_timezone(harness):
    harness.post(slash_command("write", response_url=harness.fake_slack.new_response_url()))

    view = harness.fake_slack.wait_for("views.open")[0]["view"]
    assert view["callback_id"] == "draft_write"
    time_block = next(b for b in view["blocks"] if b["block_id"] == "time")
    assert time_block["element"]["timezone"] == "Asia/Kolkata"


def test_over_length_text_is_field_error_and_kept(harness):
    answer = submit(harness, "a" * 3001)

    assert answer["response_action"] == "errors"
    assert "3,001 characters" in answer["errors"]["text"]
    assert count_posts(harness) == 0


def test_past_time_is_field_error(harness):
    answer = submit(harness, "Hello", date="2027-01-01", time="10:00")

    assert answer["response_action"] == "errors"
    assert "past" in answer["errors"]["time"]


def test_kolkata_time_approved_and_stored_in_utc(harness):
    connect(harness)

    answer = submit(harness, "Launch day!", date="2027-06-30", time="14:55", approve=True)

    assert answer == {}
    post = load_post(harness, only_post_id(harness))
    assert post.status == PostStatus.SCHEDULED
    assert post.scheduled_at == datetime(2027, 6, 30, 9, 25, tzinfo=UTC)
    card = harness.fake_slack.message(post.channel_id, post.card_ts)
    assert "Wed 30 Jun 2027, 14:55 (UTC+05:30)" in json.dumps(card["blocks"])


def test_new_york_gap_refused_and_fold_stored(harness):
    gap = submit(harness, "Hello", date="2027-03-14", time="02:30", user_id="U3", tz="America/New_York")
    assert "does not exist on 14 March 2027" in gap["errors"]["time"]

    submit(harness, "Hello", date="2027-11-07", time="01:30", user_id="U3", tz="America/New_York")
    post = load_post(harness, only_post_id(harness))
    assert post.scheduled_at == datetime(2027, 11, 7, 5, 30, tzinfo=UTC)


def test_approve_box_without_connection_is_field_error(harness):
    answer = submit(harness, "Hello", date="2027-06-30", time="14:55", approve=True)

    assert "/linkedin connect" in answer["errors"]["author"]
    assert count_posts(harness) == 0


def test_edit_modal_voids_approval(harness):
    connect(harness)
    submit(harness, "Launch day!", date="2027-06-30", time="14:55", approve=True)
    post = load_post(harness, only_post_id(harness))

    submit(harness, "Launch day, edited", date="2027-06-30", time="14:55",
           metadata={"post_id": post.id, "revision": post.revision, "tz": "Asia/Kolkata"})

    edited = load_post(harness, post.id)
    assert edited.text == "Launch day, edited"
    assert edited.status == PostStatus.DRAFT and edited.approved_by is None


def test_png_upload_in_thread_is_attached(harness):
    submit(harness, "Photo post")
    post = load_post(harness, only_post_id(harness))
    file = harness.fake_slack.add_file("F1", "team.png", png_bytes(), "image/png")

    harness.post(message_im(USER, "", thread_ts=post.thread_ts, channel=post.channel_id, files=[file]))
    harness.run_tasks()

    attached = load_post(harness, post.id)
    assert [(i.content_type, i.width, i.height) for i in attached.images] == [("image/png", 2, 2)]
    assert harness.fake_slack.downloads[-1] == {"file_id": "F1", "authorized": True}
    assert "team.png" in json.dumps(harness.fake_slack.message(post.channel_id, post.card_ts)["blocks"])


def test_non_image_upload_is_rejected_with_message(harness):
    submit(harness, "Photo post")
    post = load_post(harness, only_post_id(harness))
    file = harness.fake_slack.add_file("F2", "notes.pdf", b"%PDF-1.7 not an image", "application/pdf")

    harness.post(message_im(USER, "", thread_ts=post.thread_ts, channel=post.channel_id, files=[file]))
    harness.run_tasks()

    assert load_post(harness, post.id).images == []
    last = harness.fake_slack.messages(post.channel_id)[-1]
    assert "notes.pdf was not attached" in last["text"] and "JPEG, PNG or GIF" in last["text"]


def test_drafts_command_lists_posts(harness):
    submit(harness, "First draft")
    response_url = harness.fake_slack.new_response_url()

    harness.post(slash_command("drafts", response_url=response_url))

    answer = harness.fake_slack.responses(response_url)[-1]
    assert "First draft" in json.dumps(answer["blocks"])
    assert "post_edit" in json.dumps(answer["blocks"])
