"""The `/linkedin drafts` answer: the user's drafts and scheduled posts with their actions.

A pure function to at most 50 blocks (Slack's limit for a message). Each post takes up to
three blocks, so at most `MAX_POSTS` are listed and the rest are counted.
"""

from __future__ import annotations

from bot import times
from bot.views.draft_card import (
    CardContext,
    author_label,
    button_value,
    discard_confirm,
    escape,
)
from storage.models import Post, PostStatus
from storage.posts import EDITABLE, WAITING_TO_PUBLISH, count_chars, describe_status

MAX_POSTS = 15
PREVIEW_CHARS = 150

# Home's action_ids, handled by bot.listeners.approval.
POST_EDIT = "post_edit"
POST_UNSCHEDULE = "post_unschedule"
POST_DISCARD = "post_discard"


def drafts_list(posts: list[Post], context: CardContext) -> list[dict]:
    """List `posts` (newest first as given) with Edit, Unschedule and Discard buttons."""
    if not posts:
        return [{"type": "section", "text": {"type": "mrkdwn", "text": "You have no drafts or scheduled posts. Start one with `/linkedin new <what the post is about>` or `/linkedin write`."}}]
    shown = posts[:MAX_POSTS]
    blocks: list[dict] = [{"type": "header", "text": {"type": "plain_text", "text": "Your LinkedIn drafts and scheduled posts"}}]
    for post in shown:
        blocks += _post_blocks(post, context)
    if len(posts) > MAX_POSTS:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"And {len(posts) - MAX_POSTS} more. Discard or publish some to see the rest; the Home tab shows the schedule."}]})
    return blocks


def _post_blocks(post: Post, context: CardContext) -> list[dict]:
    preview = " ".join(post.text.split())
    if len(preview) > PREVIEW_CHARS:
        preview = preview[:PREVIEW_CHARS] + "…"
    when = times.format_local(post.scheduled_at, context.tz_name) if post.scheduled_at else "no time chosen"
    summary = (
        f"*#{post.id}* · {escape(describe_status(post.status))} · {escape(when)} · "
        f"{escape(author_label(post.author_organization_id, context))} · {count_chars(post.text):,} characters\n"
        f"{escape(preview) or '_empty_'}"
    )
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": summary, "verbatim": True}}]
    buttons = _buttons(post)
    if buttons:
        blocks.append({"type": "actions", "block_id": f"drafts_{post.id}_{post.revision}", "elements": buttons})
    return blocks


def _buttons(post: Post) -> list[dict]:
    value = button_value(post)
    buttons = []
    if post.status in EDITABLE:
        buttons.append(_button("Edit", POST_EDIT, value))
    if post.status in WAITING_TO_PUBLISH:
        buttons.append(_button("Unschedule", POST_UNSCHEDULE, value))
    if post.status not in (PostStatus.PUBLISHING, PostStatus.PUBLISHED):
        buttons.append({**_button("Discard", POST_DISCARD, value), "style": "danger", "confirm": discard_confirm()})
    return buttons


def _button(text: str, action_id: str, value: str) -> dict:
    return {"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": action_id, "value": value}
