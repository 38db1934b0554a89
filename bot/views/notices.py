"""Block Kit for the direct messages the publisher and the reminders send to a post's owner.

Every builder is a pure function from data to `(text, blocks)`: `text` is the notification
and screen-reader fallback, `blocks` the message. Nothing here calls Slack or the database.
A notice may name a post by its id and time but never quotes its text, so a DM preview
shows no more than the owner's Home tab does.
"""

from __future__ import annotations

from datetime import datetime

from bot.views.home import CONNECT_ACTION

# action_ids handled by bot.listeners.publishing, except HOME_CONNECT (the Slack side's
# connect flow, bot.listeners.connection) and `post_edit` (the card's edit flow).
PUBLISH_NOW = "missed_publish_now"
RESCHEDULE = "missed_reschedule"
OUTCOME_PUBLISHED = "outcome_published"
OUTCOME_PUBLISH_AGAIN = "outcome_publish_again"
POST_RETRY = "post_retry"
POST_EDIT = "post_edit"
HOME_CONNECT = CONNECT_ACTION

Notice = tuple[str, list[dict]]


def post_value(post_id: int, revision: int) -> str:
    """Return a button value naming one revision of a post, as the card's buttons do."""
    return f"{post_id}:{revision}"


def parse_post_value(value: str) -> tuple[int, int]:
    """Parse `post_value` output. Raises ValueError on anything else."""
    post_id, revision = value.split(":", 1)
    return int(post_id), int(revision)


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _button(text: str, action_id: str, value: str = "", style: str | None = None) -> dict:
    button = {"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": action_id}
    if value:
        button["value"] = value
    if style:
        button["style"] = style
    return button


def _actions(post_id: int | None, *buttons: dict) -> dict:
    block = {"type": "actions", "elements": list(buttons)}
    if post_id is not None:
        block["block_id"] = f"notice_{post_id}"
    return block


def slack_time(moment: datetime) -> str:
    """Return a Slack date token that each reader sees in their own time zone."""
    seconds = int(moment.timestamp())
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{seconds}^{{date_short_pretty}} at {{time}}|{fallback}>"


def author_label(author_name: str | None) -> str:
    return f"the page {author_name}" if author_name else "your profile"


def published(post_id: int, url: str, author_name: str | None = None) -> Notice:
    text = f"Your post was published on LinkedIn as {author_label(author_name)}: {url}"
    blocks = [
        _section(f":white_check_mark: Your post (#{post_id}) was published on LinkedIn as {author_label(author_name)}."),
        _actions(None, {"type": "button", "text": {"type": "plain_text", "text": "View on LinkedIn"}, "url": url, "action_id": "open_linkedin_post"}),
    ]
    return text, blocks


def missed(post_id: int, revision: int, scheduled_at: datetime, grace_minutes: int) -> Notice:
    text = "A scheduled post was not published on time. Publish it now or choose a new time."
    detail = (
        f":hourglass: Your post (#{post_id}) was due {slack_time(scheduled_at)}, but the publisher was not "
        f"running then, and it is now more than {grace_minutes} minutes late. Nothing was published. "
        "Publish it now, or choose a new time."
    )
    value = post_value(post_id, revision)
    blocks = [
        _section(detail),
        _actions(post_id, _button("Publish now", PUBLISH_NOW, value, "primary"), _button("Reschedule", RESCHEDULE, value)),
    ]
    return text, blocks


def reconnect_needed(post_ids: list[int], reason: str) -> Notice:
    count = len(post_ids)
    waiting = "1 post is" if count == 1 else f"{count} posts are"
    text = f"Connect LinkedIn again: {waiting} waiting to publish."
    detail = (
        f":warning: {reason} {waiting.capitalize()} on hold and nothing was published. "
        "Connect LinkedIn again: the posts that are still on time go out right after, and you "
        "are asked about any that became late."
    )
    blocks = [_section(detail), _actions(None, _button("Connect LinkedIn", HOME_CONNECT, "", "primary"))]
    return text, blocks


def failed(post_id: int, revision: int, reason: str, can_retry: bool) -> Notice:
    """A post LinkedIn refused. `can_retry` adds "Try again" where retrying may succeed as is."""
    text = f"Your post was not published: {reason}"
    value = post_value(post_id, revision)
    buttons = [_button("Edit post", POST_EDIT, value, "primary")]
    if can_retry:
        buttons.append(_button("Try again", POST_RETRY, value))
    blocks = [
        _section(f":x: Your post (#{post_id}) was not published. {reason}"),
        _section("Your text is kept. Edit the post and approve it again, or try again once the cause is fixed."),
        _actions(post_id, *buttons),
    ]
    return text, blocks


def outcome_unknown(post_id: int, revision: int, author_name: str | None, sent_at: datetime | None) -> Notice:
    text = "We could not tell whether your post was published. Check LinkedIn and tell us."
    when = f" at {slack_time(sent_at)}" if sent_at else ""
    detail = (
        f":grey_question: Your post (#{post_id}) was sent to LinkedIn{when} as {author_label(author_name)}, "
        "but no clear answer came back, so it may or may not be on LinkedIn. To avoid posting it twice it "
        "is not sent again by itself. Check your LinkedIn activity, then tell us what you found."
    )
    value = post_value(post_id, revision)
    blocks = [
        _section(detail),
        _actions(
            post_id,
            _button("It was published", OUTCOME_PUBLISHED, value, "primary"),
            _button("Publish again", OUTCOME_PUBLISH_AGAIN, value),
        ),
    ]
    return text, blocks


def expiry_reminder(expires_at: datetime, posts_after_expiry: int) -> Notice:
    text = "Your LinkedIn connection expires soon. Connect again to keep publishing."
    detail = f":key: Your LinkedIn connection expires {slack_time(expires_at)}. LinkedIn makes every app ask again after 60 days."
    if posts_after_expiry:
        plural = "post is" if posts_after_expiry == 1 else "posts are"
        detail += f" {posts_after_expiry} scheduled {plural} due after that and cannot go out unless you connect again."
    detail += " Connecting again takes one click and keeps your posts."
    blocks = [_section(detail), _actions(None, _button("Connect LinkedIn", HOME_CONNECT, "", "primary"))]
    return text, blocks


def action_result(message: str) -> Notice:
    """Replace a notice's buttons with the outcome of a click."""
    return message, [_section(message)]
