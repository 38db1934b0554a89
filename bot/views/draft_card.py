"""The draft card: a post as it will appear on LinkedIn, with the owner's actions under it.

`draft_card` is a pure function from a post (with its images) to Block Kit blocks. Every
button value is f"{post_id}:{revision}", so a click on an older card is recognised and
rejected. The card shows the raw text the user will publish, never LinkedIn's escaped
commentary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot import times
from storage.models import Post, PostStatus
from storage.posts import EDITABLE, MAX_TEXT_CHARS, WAITING_TO_PUBLISH, count_chars, describe_status

MEMBER_AUTHOR = "member"
ORG_PREFIX = "org:"
MAX_TEXT_SECTIONS = 4  # 12,000 characters; an over-length draft is cut after that
MAX_IMAGES_SHOWN = 9

# action_ids of the card. Home and drafts-list buttons use the post_* ones.
APPROVE_SCHEDULE = "card_approve_schedule"
APPROVE_NOW = "card_approve_now"
SAVE = "card_save"
EDIT = "card_edit"
DISCARD = "card_discard"
UNSCHEDULE = "card_unschedule"
ALT_TEXT = "card_alt_text"
AUTHOR = "card_author"
DATE = "card_date"
TIME = "card_time"
WRITE_BY_HAND = "home_write_post"
CONNECT = "home_connect_linkedin"  # handled by bot.listeners.connection


@dataclass(frozen=True)
class CardContext:
    """The data a card shows besides the post: names, the owner's zone and the current time."""

    member_name: str = ""
    pages: list[tuple[str, str]] = field(default_factory=list)  # (organization_id, name)
    tz_name: str = "UTC"
    now: datetime | None = None


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def button_value(post: Post, extra: str | int | None = None) -> str:
    value = f"{post.id}:{post.revision}"
    return value if extra is None else f"{value}:{extra}"


def author_label(author_organization_id: str | None, context: CardContext) -> str:
    if author_organization_id is None:
        return f"You ({context.member_name})" if context.member_name else "You"
    names = dict(context.pages)
    return names.get(author_organization_id) or f"Page {author_organization_id}"


def author_options(post: Post, context: CardContext) -> list[dict]:
    """Options for the author select: the member, then each page they may post for."""
    choices = [(MEMBER_AUTHOR, author_label(None, context))]
    choices += [(ORG_PREFIX + org_id, name or f"Page {org_id}") for org_id, name in context.pages]
    current = post.author_organization_id
    if current is not None and current not in dict(context.pages):
        choices.append((ORG_PREFIX + current, f"Page {current} (no longer postable)"))
    return [_option(label[:75], value) for value, label in choices]


def _option(text: str, value: str) -> dict:
    return {"text": {"type": "plain_text", "text": text, "emoji": False}, "value": value}


def author_value(author_organization_id: str | None) -> str:
    return MEMBER_AUTHOR if author_organization_id is None else ORG_PREFIX + author_organization_id


def parse_author(value: str | None) -> str | None:
    """Turn an author option value back into `author_organization_id` (None: the member)."""
    if value and value.startswith(ORG_PREFIX):
        return value[len(ORG_PREFIX):]
    return None


def draft_card(post: Post, context: CardContext) -> list[dict]:
    """Render the card of `post` (at most about 20 blocks, well under Slack's 50)."""
    blocks = [_status_block(post, context)]
    blocks += text_blocks(post.text)
    blocks.append(_count_block(post.text))
    blocks += _image_blocks(post)
    if post.media_suggestions:
        blocks.append(_suggestions_block(post.media_suggestions))
    blocks += _action_blocks(post, context)
    return blocks


def card_fallback_text(post: Post) -> str:
    """Return the notification text of a card message."""
    return f"LinkedIn post ({describe_status(post.status)}), {count_chars(post.text):,} characters"


def _status_block(post: Post, context: CardContext) -> dict:
    parts = [f"*LinkedIn post* · {escape(describe_status(post.status))}", f"Author: {escape(author_label(post.author_organization_id, context))}"]
    if post.scheduled_at and post.status in WAITING_TO_PUBLISH | {PostStatus.PUBLISHING, PostStatus.FAILED}:
        approved = "approved" if post.approved_by else "not approved"
        parts.append(f"Time: {times.format_local(post.scheduled_at, context.tz_name)} ({approved})")
    if post.published_at and post.status == PostStatus.PUBLISHED:
        parts.append(f"Published {times.format_local(post.published_at, context.tz_name)}")
    if post.failure_reason and post.status in (PostStatus.FAILED, PostStatus.NEEDS_RECONNECT, PostStatus.MISSED, PostStatus.OUTCOME_UNKNOWN):
        parts.append(f"Problem: {escape(post.failure_reason[:500])}")
    return {"type": "section", "block_id": f"card_status_{post.revision}", "text": {"type": "mrkdwn", "text": "\n".join(parts)}}


def text_blocks(text: str) -> list[dict]:
    """Show the raw post text in sections of at most 3,000 characters each.

    NOTE: mrkdwn still renders *bold*, _italic_ and ~strike~ marks that LinkedIn shows as
    typed; `verbatim` only stops Slack from turning URLs and names into links.
    """
    if not text.strip():
        return [{"type": "section", "text": {"type": "mrkdwn", "text": "_The post is empty._"}}]
    escaped = escape(text)
    chunks = [escaped[start:start + 3000] for start in range(0, len(escaped), 3000)]
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": chunk, "verbatim": True}} for chunk in chunks[:MAX_TEXT_SECTIONS]]
    if len(chunks) > MAX_TEXT_SECTIONS:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "The rest of the text is not shown here; open Edit to see all of it."}]})
    return blocks


def _count_block(text: str) -> dict:
    length = count_chars(text)
    line = f"{length:,} / {MAX_TEXT_CHARS:,} characters"
    if length > MAX_TEXT_CHARS:
        line += f" · too long by {length - MAX_TEXT_CHARS:,}: shorten it before approving"
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": line}]}


def _image_blocks(post: Post) -> list[dict]:
    blocks = []
    editable = post.status in EDITABLE
    for image in post.images[:MAX_IMAGES_SHOWN]:
        alt = f"alt text: {escape(image.alt_text)}" if image.alt_text else "no alt text yet"
        block = {"type": "section", "text": {"type": "mrkdwn", "text": f"🖼 {escape(image.filename or 'image')} ({image.width}x{image.height}), {alt}"}}
        if editable:
            block["accessory"] = _button("Alt text", ALT_TEXT, button_value(post, image.id))
        blocks.append(block)
    if len(post.images) > MAX_IMAGES_SHOWN:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"And {len(post.images) - MAX_IMAGES_SHOWN} more image(s)."}]})
    if editable and not post.images:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "To add an image, upload a JPEG, PNG or GIF in this thread."}]})
    return blocks


def _suggestions_block(suggestions: list[str]) -> dict:
    lines = "\n".join(f"• {escape(item[:300])}" for item in suggestions[:5])
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Media ideas from the AI (not attached):\n{lines}"}]}


def _button(text: str, action_id: str, value: str, style: str | None = None, confirm: dict | None = None) -> dict:
    element = {"type": "button", "text": {"type": "plain_text", "text": text, "emoji": True}, "action_id": action_id, "value": value}
    if style:
        element["style"] = style
    if confirm:
        element["confirm"] = confirm
    return element


def discard_confirm() -> dict:
    return {
        "title": {"type": "plain_text", "text": "Discard this post?"},
        "text": {"type": "plain_text", "text": "The post, its images and its AI conversation are deleted. This cannot be undone."},
        "confirm": {"type": "plain_text", "text": "Discard"},
        "deny": {"type": "plain_text", "text": "Keep it"},
        "style": "danger",
    }


def _action_blocks(post: Post, context: CardContext) -> list[dict]:
    status = post.status
    if status == PostStatus.SCHEDULED and post.approved_by:
        return [_actions(post, "card_scheduled", [
            _button("Unschedule", UNSCHEDULE, button_value(post)),
            _button("Edit", EDIT, button_value(post)),
            _button("Discard", DISCARD, button_value(post), "danger", discard_confirm()),
        ])]
    if status not in EDITABLE:
        return [] if status in (PostStatus.PUBLISHING, PostStatus.PUBLISHED) else [
            _actions(post, "card_other", [_button("Discard", DISCARD, button_value(post), "danger", discard_confirm())])
        ]
    return [_picker_block(post, context), _draft_buttons(post)]


def _actions(post: Post, name: str, elements: list[dict]) -> dict:
    # The revision in block_id makes Slack drop a picker's old client-side value on update.
    return {"type": "actions", "block_id": f"{name}_{post.revision}", "elements": elements}


def _picker_block(post: Post, context: CardContext) -> dict:
    options = author_options(post, context)
    current = author_value(post.author_organization_id)
    author = {"type": "static_select", "action_id": AUTHOR, "options": options,
              "placeholder": {"type": "plain_text", "text": "Author"}}
    author["initial_option"] = next((o for o in options if o["value"] == current), options[0])
    date_str, time_str = times.local_inputs(post.scheduled_at, context.tz_name)
    date_picker = {"type": "datepicker", "action_id": DATE, "placeholder": {"type": "plain_text", "text": "Date"}}
    time_picker = {"type": "timepicker", "action_id": TIME, "placeholder": {"type": "plain_text", "text": "Time"}, "timezone": context.tz_name}
    if date_str:
        date_picker["initial_date"] = date_str
        time_picker["initial_time"] = time_str
    return _actions(post, "card_when", [author, date_picker, time_picker])


def _draft_buttons(post: Post) -> dict:
    value = button_value(post)
    return _actions(post, "card_buttons", [
        _button("Approve & schedule", APPROVE_SCHEDULE, value, "primary"),
        _button("Approve & publish now", APPROVE_NOW, value),
        _button("Edit", EDIT, value),
        _button("Save as draft", SAVE, value),
        _button("Discard", DISCARD, value, "danger", discard_confirm()),
    ])


def superseded_card(post_id: int) -> list[dict]:
    """Replace an older card of a post once a newer one is below it in the thread."""
    return [{"type": "context", "elements": [{"type": "mrkdwn", "text": f"An older version of draft #{post_id}. The newest card is further down this thread."}]}]


def notice(text: str, *, write_by_hand: bool = False, connect: bool = False) -> list[dict]:
    """Build a short message with optional "Write by hand" and "Connect LinkedIn" buttons."""
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": escape(text)}}]
    buttons = []
    if write_by_hand:
        buttons.append(_button("Write by hand", WRITE_BY_HAND, "write"))
    if connect:
        buttons.append(_button("Connect LinkedIn", CONNECT, "connect", "primary"))
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    return blocks
