"""Modals of the drafting surface: write or edit a post, alt text of an image, the AI profile.

Pure functions from data to a modal view. The write modal keeps what the user typed in its
`initial_value`s, and the listener replies to a bad submission with field errors, so Slack
keeps the modal and its values open.
"""

from __future__ import annotations

import json

from bot import times
from bot.views.draft_card import CardContext, author_options, author_value
from storage.models import Post
from storage.posts import MAX_TEXT_CHARS
from storage.profiles import ProfileFields

WRITE_CALLBACK = "draft_write"
ALT_TEXT_CALLBACK = "draft_alt_text"
PROFILE_CALLBACK = "ai_profile"

# block_id and action_id of each input (the same string for both).
TEXT = "text"
AUTHOR = "author"
DATE = "date"
TIME = "time"
APPROVE = "approve"
IMAGE = "image"
ALT = "alt"

MAX_ALT_TEXT = 1000  # characters; screen readers read more, but a card shows this much


def _plain(text: str) -> dict:
    return {"type": "plain_text", "text": text, "emoji": True}


def _input(block_id: str, label: str, element: dict, *, optional: bool = False, hint: str = "") -> dict:
    block = {"type": "input", "block_id": block_id, "label": _plain(label), "element": {**element, "action_id": block_id}, "optional": optional}
    if hint:
        block["hint"] = _plain(hint)
    return block


def write_modal(post: Post | None, context: CardContext, *, text: str | None = None) -> dict:
    """Build the modal that writes a new post (`post` None) or edits one, prefilled with its values."""
    metadata = {"post_id": post.id if post else None, "revision": post.revision if post else None, "tz": context.tz_name}
    current_text = text
    if current_text is None:
        current_text = post.text if post else ""
    blocks = [_text_input(current_text), _author_input(post, context)]
    blocks += _when_inputs(post, context)
    blocks.append(_input(APPROVE, "Approval", {"type": "checkboxes", "options": [
        {"text": _plain("Approve and schedule for the date and time above"), "value": "approve"}
    ]}, optional=True, hint="Without this box the post is saved as a draft."))
    blocks.append(_input(IMAGE, "Image", {"type": "file_input", "filetypes": ["jpg", "jpeg", "png", "gif"], "max_files": 1},
                         optional=True, hint="JPEG, PNG or GIF, at most 10 MB. You can also upload one in the post's thread."))
    return {
        "type": "modal",
        "callback_id": WRITE_CALLBACK,
        "private_metadata": json.dumps(metadata),
        "title": _plain("Edit LinkedIn post" if post else "Write a LinkedIn post"),
        "submit": _plain("Save"),
        "close": _plain("Cancel"),
        "blocks": blocks,
    }


def _text_input(text: str) -> dict:
    element = {"type": "plain_text_input", "multiline": True, "max_length": MAX_TEXT_CHARS,
               "placeholder": _plain("What do you want to share?")}
    if text:
        # Slack rejects an initial_value longer than max_length, so an over-long draft
        # is shown without the limit; the server still rejects it on submit.
        element["initial_value"] = text
        if len(text) > MAX_TEXT_CHARS:
            element.pop("max_length")
    return _input(TEXT, "Post text", element, hint=f"Plain text, at most {MAX_TEXT_CHARS:,} characters. Hashtags are fine.")


def _author_input(post: Post | None, context: CardContext) -> dict:
    options = author_options(post or Post(author_organization_id=None), context)
    current = author_value(post.author_organization_id if post else None)
    element = {"type": "static_select", "options": options, "initial_option": next((o for o in options if o["value"] == current), options[0])}
    return _input(AUTHOR, "Post as", element)


def _when_inputs(post: Post | None, context: CardContext) -> list[dict]:
    date_str, time_str = times.local_inputs(post.scheduled_at if post else None, context.tz_name)
    date_picker = {"type": "datepicker"}
    time_picker = {"type": "timepicker", "timezone": context.tz_name}
    if date_str:
        date_picker["initial_date"] = date_str
        time_picker["initial_time"] = time_str
    return [
        _input(DATE, "Date", date_picker, optional=True),
        _input(TIME, "Time", time_picker, optional=True, hint=f"In your Slack time zone, {context.tz_name}."),
    ]


def alt_text_modal(post: Post, image_id: int, current: str) -> dict:
    element = {"type": "plain_text_input", "multiline": True, "max_length": MAX_ALT_TEXT}
    if current:
        element["initial_value"] = current
    return {
        "type": "modal",
        "callback_id": ALT_TEXT_CALLBACK,
        "private_metadata": json.dumps({"post_id": post.id, "revision": post.revision, "image_id": image_id}),
        "title": _plain("Image alt text"),
        "submit": _plain("Save"),
        "close": _plain("Cancel"),
        "blocks": [_input(ALT, "Describe the image for people who cannot see it", element, optional=True)],
    }


PROFILE_FIELDS = (
    ("role", "Your role", False, "For example: Head of Engineering"),
    ("company", "Your company", False, ""),
    ("company_description", "What your company does", True, ""),
    ("audience", "Who reads your posts", False, "For example: engineering managers at startups"),
    ("tone", "Tone", False, "For example: friendly, concrete, no buzzwords"),
    ("language", "Language of your posts", False, "The AI writes in this language."),
    ("avoid_topics", "Topics to avoid", True, ""),
    ("example_posts", "Example posts you like", True, "Paste one or two posts whose style you want."),
)


def profile_modal(profile: ProfileFields) -> dict:
    blocks = []
    for name, label, multiline, hint in PROFILE_FIELDS:
        element = {"type": "plain_text_input", "multiline": multiline, "max_length": 3000}
        value = getattr(profile, name)
        if value:
            element["initial_value"] = value
        blocks.append(_input(name, label, element, optional=True, hint=hint))
    return {
        "type": "modal",
        "callback_id": PROFILE_CALLBACK,
        "title": _plain("Your AI profile"),
        "submit": _plain("Save"),
        "close": _plain("Cancel"),
        "blocks": [{"type": "context", "elements": [{"type": "mrkdwn", "text": "The AI drafting agent reads this before every draft. Leave out anything you would not want in a post."}]}] + blocks,
    }


BRIEF_CALLBACK = "draft_brief"
BRIEF = "brief"


def brief_modal() -> dict:
    """Ask what an AI draft should be about (the Home button's first step)."""
    element = {"type": "plain_text_input", "multiline": True, "max_length": 3000,
               "placeholder": _plain("For example: our beta launch and what we learned")}
    return {
        "type": "modal",
        "callback_id": BRIEF_CALLBACK,
        "title": _plain("New AI draft"),
        "submit": _plain("Draft it"),
        "close": _plain("Cancel"),
        "blocks": [_input(BRIEF, "What is the post about?", element, hint="The draft appears in our direct messages, where you can ask for changes.")],
    }
