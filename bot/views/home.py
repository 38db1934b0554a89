"""The App Home tab: a pure function from `HomeData` to Block Kit blocks.

The Home shows, top to bottom: a first-visit welcome, the LinkedIn connection, buttons to
start a post, then a calendar of upcoming posts grouped by day in the user's time zone,
posts that need attention, drafts and recently published posts. Each post carries the
buttons its state allows; the drafting and publishing listeners handle their action_ids.

The view must stay within Slack's 100 blocks and 250 kB: each list shows a few items and
then "and N more", and every text is shortened. Post texts are shown raw (never LinkedIn's
escaped commentary) with Slack's mrkdwn control characters escaped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.views.common import (
    MAX_VIEW_BLOCKS,
    actions,
    button,
    confirm_dialog,
    context,
    divider,
    escape_mrkdwn,
    format_date_time,
    format_day,
    format_time,
    header,
    local_time,
    section,
    shorten,
)

# Action ids handled here (connection) and by the other listener modules (posts).
CONNECT_ACTION = "home_connect_linkedin"
DISCONNECT_ACTION = "home_disconnect_linkedin"
NEW_AI_DRAFT_ACTION = "home_new_ai_draft"
WRITE_POST_ACTION = "home_write_post"
OPEN_POST_ACTION = "home_open_linkedin_post"
EDIT_ACTION = "post_edit"
UNSCHEDULE_ACTION = "post_unschedule"
RETRY_ACTION = "post_retry"
DISCARD_ACTION = "post_discard"

# Items shown per list. With two blocks per item and a header per day, the worst case is
# 73 blocks, under Slack's 100. `fit_blocks` still guards the limit.
MAX_UPCOMING = 10
MAX_ATTENTION = 5
MAX_DRAFTS = 5
MAX_PUBLISHED = 5
ITEM_TEXT_CHARS = 280
REASON_CHARS = 300

ATTENTION_LABELS = {
    "failed": "Failed",
    "needs_reconnect": "Waiting for you to connect LinkedIn again",
    "missed": "Missed its time",
    "outcome_unknown": "Unknown whether it was published",
}


@dataclass(frozen=True)
class HomeConnection:
    member_name: str
    pages: list[tuple[str, str]]  # (organization id, name or the id when the name is unknown)
    access_token_expires_at: datetime | None
    personal_only: bool


@dataclass(frozen=True)
class HomePost:
    id: int
    revision: int
    status: str
    text: str
    author: str  # "your profile" or a Page name
    scheduled_at: datetime | None = None
    updated_at: datetime | None = None
    published_at: datetime | None = None
    post_url: str | None = None
    failure_reason: str | None = None


@dataclass
class HomeData:
    timezone: str
    first_visit: bool = False
    ai_enabled: bool = True
    connection: HomeConnection | None = None
    upcoming: list[HomePost] = field(default_factory=list)
    upcoming_total: int = 0
    attention: list[HomePost] = field(default_factory=list)
    attention_total: int = 0
    drafts: list[HomePost] = field(default_factory=list)
    drafts_total: int = 0
    published: list[HomePost] = field(default_factory=list)


def build_home(data: HomeData) -> list[dict]:
    """Return the Home tab's blocks for `data`."""
    blocks: list[dict] = [header("LinkedIn posts")]
    if data.first_visit:
        blocks += welcome_blocks()
    blocks += connection_blocks(data.connection, data.timezone)
    blocks.append(start_buttons(data.ai_enabled))
    blocks += upcoming_blocks(data)
    blocks += attention_blocks(data)
    blocks += draft_blocks(data)
    blocks += published_blocks(data)
    return fit_blocks(blocks)


def home_view(data: HomeData) -> dict:
    return {"type": "home", "callback_id": "home", "blocks": build_home(data)}


def erased_view() -> dict:
    """Build the Home shown right after a user deleted their data."""
    return {
        "type": "home",
        "callback_id": "home",
        "blocks": [
            header("LinkedIn posts"),
            section("Your data was deleted. Run `/linkedin connect` to start again."),
        ],
    }


def welcome_blocks() -> list[dict]:
    return [
        section(
            "*Welcome!* This app writes LinkedIn posts with you and publishes them only when you approve them.\n"
            "*1.* Connect your LinkedIn account.\n"
            "*2.* Draft a post with the AI assistant, or write it yourself.\n"
            "*3.* Approve the exact text with a date and time. Only approved posts are published."
        ),
        divider(),
    ]


def connection_blocks(connection: HomeConnection | None, timezone: str) -> list[dict]:
    if connection is None:
        return [
            section(
                "*LinkedIn:* Not connected",
                accessory=button("Connect LinkedIn", CONNECT_ACTION, style="primary"),
            )
        ]

    lines = [f"*LinkedIn:* Connected as *{escape_mrkdwn(shorten(connection.member_name, 200))}*"]
    if connection.pages:
        names = ", ".join(escape_mrkdwn(shorten(name, 80)) for _, name in connection.pages[:10])
        more = f" and {len(connection.pages) - 10} more" if len(connection.pages) > 10 else ""
        lines.append(f"Pages you may post for: {names}{more}")
    if connection.access_token_expires_at is not None:
        lines.append(f"Access expires on {format_day(connection.access_token_expires_at, timezone)}")
    blocks = [section("\n".join(lines))]
    if connection.personal_only:
        blocks.append(context("Connected for posts on your own profile only: LinkedIn did not grant the Page permissions."))
    blocks.append(
        actions(
            [
                button("Reconnect", CONNECT_ACTION),
                button(
                    "Disconnect LinkedIn",
                    DISCONNECT_ACTION,
                    style="danger",
                    confirm=confirm_dialog(
                        "Disconnect LinkedIn?",
                        "Your LinkedIn tokens are deleted at once, and your scheduled posts become drafts again.",
                        "Disconnect",
                    ),
                ),
            ],
            block_id="connection",
        )
    )
    return blocks


def start_buttons(ai_enabled: bool) -> dict:
    elements = []
    if ai_enabled:
        elements.append(button("New AI draft", NEW_AI_DRAFT_ACTION, style="primary"))
    elements.append(button("Write a post", WRITE_POST_ACTION))
    return actions(elements, block_id="start")


def upcoming_blocks(data: HomeData) -> list[dict]:
    blocks = [divider(), header("Upcoming")]
    if not data.upcoming:
        return blocks + [context("Nothing scheduled. Approve a draft with a date and time to schedule it.")]

    current_day = None
    for post in data.upcoming[:MAX_UPCOMING]:
        day = local_time(post.scheduled_at, data.timezone).date() if post.scheduled_at else None
        if day != current_day:
            current_day = day
            label = format_day(post.scheduled_at, data.timezone) if post.scheduled_at else "No time set"
            blocks.append(context(f"*{label}*"))
        when = format_time(post.scheduled_at, data.timezone) if post.scheduled_at else ""
        state = " · being published" if post.status == "publishing" else ""
        blocks += post_item(post, f"*{when}* · {escape_mrkdwn(post.author)}{state}")
    blocks += more_line(data.upcoming_total, MAX_UPCOMING)
    return blocks


def attention_blocks(data: HomeData) -> list[dict]:
    if not data.attention:
        return []
    blocks = [divider(), header("Needs your attention")]
    for post in data.attention[:MAX_ATTENTION]:
        label = ATTENTION_LABELS.get(post.status, post.status)
        reason = f"\n_{escape_mrkdwn(shorten(post.failure_reason, REASON_CHARS))}_" if post.failure_reason else ""
        blocks += post_item(post, f"*{label}* · {escape_mrkdwn(post.author)}{reason}")
    blocks += more_line(data.attention_total, MAX_ATTENTION)
    return blocks


def draft_blocks(data: HomeData) -> list[dict]:
    blocks = [divider(), header("Drafts")]
    if not data.drafts:
        return blocks + [context("No drafts.")]
    for post in data.drafts[:MAX_DRAFTS]:
        updated = f"Updated {format_date_time(post.updated_at, data.timezone)} · " if post.updated_at else ""
        blocks += post_item(post, f"{updated}{escape_mrkdwn(post.author)}")
    blocks += more_line(data.drafts_total, MAX_DRAFTS)
    return blocks


def published_blocks(data: HomeData) -> list[dict]:
    if not data.published:
        return []
    blocks = [divider(), header("Recently published")]
    for post in data.published[:MAX_PUBLISHED]:
        when = format_date_time(post.published_at, data.timezone) if post.published_at else "Published"
        text = f"*{when}* · {escape_mrkdwn(post.author)}\n{quote_text(post.text)}"
        accessory = button("View on LinkedIn", OPEN_POST_ACTION, str(post.id), url=post.post_url) if post.post_url else None
        blocks.append(section(text, accessory=accessory, block_id=f"published_{post.id}"))
    return blocks


def post_item(post: HomePost, title: str) -> list[dict]:
    """Return a post's section and, when its state allows any, its buttons."""
    blocks = [section(f"{title}\n{quote_text(post.text)}", block_id=f"post_{post.id}_{post.revision}")]
    elements = post_buttons(post)
    if elements:
        blocks.append(actions(elements, block_id=f"post_actions_{post.id}_{post.revision}"))
    return blocks


def post_buttons(post: HomePost) -> list[dict]:
    value = f"{post.id}:{post.revision}"
    status = post.status
    elements = []
    if status in ("draft", "scheduled", "failed", "missed", "needs_reconnect"):
        elements.append(button("Edit", EDIT_ACTION, value))
    if status in ("scheduled", "missed", "needs_reconnect"):
        elements.append(button("Unschedule", UNSCHEDULE_ACTION, value))
    if status in ("failed", "missed", "outcome_unknown"):
        elements.append(button("Retry", RETRY_ACTION, value, style="primary"))
    if status != "publishing" and status != "published":
        elements.append(
            button(
                "Discard",
                DISCARD_ACTION,
                value,
                style="danger",
                confirm=confirm_dialog("Discard this post?", "The post is deleted and cannot be restored.", "Discard"),
            )
        )
    return elements


def quote_text(text: str) -> str:
    """Show the start of a post's raw text as a mrkdwn quote on one line."""
    flat = " ".join(text.split())
    if not flat:
        return "_(empty)_"
    return "> " + escape_mrkdwn(shorten(flat, ITEM_TEXT_CHARS))


def more_line(total: int, shown: int) -> list[dict]:
    if total <= shown:
        return []
    return [context(f"…and {total - shown} more. Use `/linkedin drafts` to see them all.")]


def fit_blocks(blocks: list[dict], limit: int = MAX_VIEW_BLOCKS) -> list[dict]:
    """Cut `blocks` to Slack's limit, ending with a note that the list goes on."""
    if len(blocks) <= limit:
        return blocks
    return blocks[: limit - 1] + [context("More posts are not shown here. Use `/linkedin drafts` to see them all.")]
