"""Direct messages to the app: new briefs, replies that revise a draft, and image uploads.

Routing of a `message.im` event:
1. ignore the bot's own messages and every subtype except `file_share`;
2. claim the `event_id` in the same transaction as the work, so a redelivery does nothing;
3. a reply in a draft's thread revises it (or, with files, attaches images);
4. any other message with text starts a new AI draft.

Downloads and model calls run in durable tasks after Slack got its acknowledgement. This
module never approves or publishes anything.
"""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError

from bot.context import Services
from bot.images import ImageRejected, fetch_image
from bot.listeners.drafting import (
    NOT_CONFIGURED,
    ai_enabled,
    continue_draft,
    kick,
    refresh_card,
    refresh_home,
    start_draft,
    web_client,
)
from bot.tasks import enqueue, task_handler
from bot.views import draft_card as card_view
from storage import conversations
from storage.db import transaction
from storage.events import claim_event
from storage.models import Post, Task
from storage.posts import PostRuleError, add_image

logger = logging.getLogger(__name__)

ATTACH = "draft.attach_image"
MAX_FILES_PER_MESSAGE = 4


def register(app, services: Services) -> None:
    """Add the direct-message listener to the Bolt app."""

    @app.event("message")
    def on_message(body, event, client):
        handle_message(services, body, event, client)


def handle_message(services: Services, body: dict, event: dict, client) -> None:
    if event.get("channel_type") != "im" or event.get("bot_id") or event.get("subtype") not in (None, "file_share"):
        return
    team_id = body.get("team_id") or event.get("team")
    user_id = event.get("user")
    if not user_id:
        return
    event_id = body.get("event_id") or f"{event.get('channel')}:{event.get('ts')}"
    thread_ts = event.get("thread_ts")
    text = (event.get("text") or "").strip()
    files = event.get("files") or []

    post_id = _find_thread_post(services, team_id, event.get("channel"), thread_ts, user_id) if thread_ts else None
    if post_id is not None:
        _reply_in_thread(services, client, body, event, post_id, files, text)
    elif files:
        if _claim(services, event_id, team_id):
            _say(client, event, "To attach an image, upload it in the thread of a draft (under its card). Start a draft with /linkedin new or /linkedin write.")
    elif text:
        _new_brief(services, client, event, event_id, team_id, user_id, text, thread_ts)


def _find_thread_post(services: Services, team_id: str, channel_id: str, thread_ts: str, user_id: str) -> int | None:
    with services.sessions() as session:
        post = conversations.find_post_by_thread(session, team_id, channel_id, thread_ts)
        return post.id if post is not None and post.owner_user_id == user_id else None


def _claim(services: Services, event_id: str, team_id: str) -> bool:
    with transaction(services.sessions) as session:
        return claim_event(session, event_id, team_id, services.clock())


def _new_brief(services, client, event, event_id, team_id, user_id, text, thread_ts) -> None:
    if not ai_enabled(services):
        if _claim(services, event_id, team_id):
            _say(client, event, NOT_CONFIGURED, blocks=card_view.notice(NOT_CONFIGURED, write_by_hand=True))
        return
    # A message in an unknown thread is an assistant-container thread: the draft lives there.
    start_draft(services, team_id=team_id, user_id=user_id, brief=text, channel_id=event["channel"] if thread_ts else None,
                thread_ts=thread_ts, event_id=event_id, assistant=bool(thread_ts))


def _reply_in_thread(services, client, body, event, post_id, files, text) -> None:
    team_id, user_id = body.get("team_id") or event.get("team"), event["user"]
    event_id = body.get("event_id") or f"{event.get('channel')}:{event.get('ts')}"
    now = services.clock()
    if not files and not ai_enabled(services):
        if _claim(services, event_id, team_id):
            _say(client, event, NOT_CONFIGURED, blocks=card_view.notice(NOT_CONFIGURED, write_by_hand=True))
        return
    with transaction(services.sessions) as session:
        if not claim_event(session, event_id, team_id, now):
            logger.info("event %s of team %s was already processed", event_id, team_id)
            return
        post = session.get(Post, post_id)
        if files:
            payload = {"post_id": post_id, "channel": event["channel"], "thread_ts": event["thread_ts"],
                       "files": [_file_reference(f) for f in files[:MAX_FILES_PER_MESSAGE]]}
            enqueue(session, kind=ATTACH, team_id=team_id, user_id=user_id, payload=payload, now=now)
        elif text:
            continue_draft(services, session, post, user_id=user_id, message=text, assistant=True)
    kick(services)


def _file_reference(file: dict) -> dict:
    """The parts of a Slack file object the download needs: no token, no content."""
    return {key: file.get(key) for key in ("id", "name", "title", "size", "url_private_download", "url_private")}


def _say(client, event: dict, text: str, blocks: list[dict] | None = None) -> None:
    try:
        client.chat_postMessage(channel=event["channel"], thread_ts=event.get("thread_ts"), text=text, blocks=blocks)
    except SlackApiError as error:
        logger.warning("reply in %s failed: %s", event.get("channel"), error.response.get("error"))


@task_handler(ATTACH)
def attach_images(services: Services, task: Task) -> None:
    """Download, check and store the files of one upload. A rejected file gets a message."""
    payload = task.payload
    client = web_client(services, task.team_id)
    channel, thread_ts = _reply_place(services, client, task)
    attached = 0
    for file in payload["files"]:
        if _already_attached(services, payload["post_id"], file):
            continue
        message = _attach_one(services, task, client.token, file)
        if message is None:
            attached += 1
        else:
            client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=message)
    if attached:
        refresh_card(services, client, payload["post_id"])
        refresh_home(services, task.team_id, task.user_id)


def _reply_place(services: Services, client, task: Task) -> tuple[str, str | None]:
    """Where to answer about an upload: its thread, else the post's thread, else the DM."""
    if task.payload.get("channel"):
        return task.payload["channel"], task.payload.get("thread_ts")
    with services.sessions() as session:
        post = session.get(Post, task.payload["post_id"])
        if post is not None and post.channel_id:
            return post.channel_id, post.thread_ts
    return client.conversations_open(users=task.user_id)["channel"]["id"], None


def _already_attached(services: Services, post_id: int, file: dict) -> bool:
    """Tell whether a retried task stored this file already (matched by Slack file id in the name)."""
    with services.sessions() as session:
        post = session.get(Post, post_id)
        return post is not None and any(image.filename == _stored_name(file) for image in post.images)


def _stored_name(file: dict) -> str:
    return f"{file.get('name') or file.get('title') or 'image'} ({file.get('id')})"[:255]


def _attach_one(services: Services, task: Task, bot_token: str, file: dict) -> str | None:
    """Attach one file. Return None on success, else the message for the user."""
    name = file.get("name") or "the file"
    try:
        image = fetch_image(file, bot_token)
    except ImageRejected as error:
        logger.info("image rejected for post %s of team %s user %s: %s", task.payload["post_id"], task.team_id, task.user_id, type(error).__name__)
        return f"{name} was not attached: {error}"
    try:
        with transaction(services.sessions) as session:
            post = session.get(Post, task.payload["post_id"])
            if post is None:
                return f"{name} was not attached because the draft no longer exists."
            add_image(session, post, team_id=task.team_id, actor_user_id=task.user_id, now=services.clock(), data=image.data,
                      content_type=image.content_type, width=image.width, height=image.height,
                      filename=_stored_name(file), alt_text=str(file.get("alt_txt") or ""))
    except PostRuleError as error:
        return f"{name} was not attached: {error}"
    logger.info("image attached to post %s for team %s user %s", task.payload["post_id"], task.team_id, task.user_id)
    return None
