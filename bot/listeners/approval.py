"""Writing by hand and approval: the write/edit modal, the card's buttons and Home's post buttons.

Every change goes through storage.posts (edit_post, approve, unschedule, discard), which
checks the owner and the card's revision. A click from someone else or on an older card
changes nothing and gets an ephemeral explanation. After a change the card and Home are
refreshed. This module must never approve anything the owner did not click or submit.
"""

from __future__ import annotations

import json
import logging

from slack_sdk.errors import SlackApiError

from bot import times
from bot.context import Services
from bot.listeners.deferred import durable_action, durable_work
from bot.listeners.drafting import (
    card_context,
    dm_channel,
    kick,
    refresh_card,
    refresh_home,
    user_tz,
)
from bot.listeners.messages import ATTACH
from bot.reminders import send_expiry_reminders
from bot.subcommands import CommandRequest, subcommand
from bot.tasks import enqueue
from bot.views import draft_card as card_view
from bot.views import drafts_list as list_view
from bot.views import modals
from storage import conversations
from storage.connections import posting_rights
from storage.db import transaction
from storage.models import Post, PostStatus
from storage.posts import (
    AlreadyScheduled,
    CannotPostAs,
    InvalidText,
    InvalidTime,
    OutOfDate,
    PostRuleError,
    approve,
    check_card,
    create_draft,
    discard,
    edit_post,
    get_post,
    is_approved_as_is,
    set_image_alt_text,
    unschedule,
    validate_text,
    validate_time,
)

logger = logging.getLogger(__name__)

HOME_WRITE = "home_write_post"


class FieldError(Exception):
    """A write-modal value to send back on its field (block_id -> message)."""

    def __init__(self, block_id: str, message: str):
        super().__init__(message)
        self.block_id = block_id


# --- Talking back ------------------------------------------------------------------------


def tell(services: Services, body: dict, client, text: str, blocks: list[dict] | None = None) -> None:
    """Send the clicking user an ephemeral message where they clicked (card) or in the DM (Home)."""
    user_id = body["user"]["id"]
    channel = (body.get("container") or {}).get("channel_id") or (body.get("channel") or {}).get("id")
    try:
        client.chat_postEphemeral(channel=channel or dm_channel(client, user_id), user=user_id, text=text, blocks=blocks)
    except SlackApiError as error:
        logger.warning("ephemeral message to user %s failed: %s", user_id, error.response.get("error"))


def rule_message(services: Services, error: PostRuleError, tz_name: str) -> tuple[str, list[dict] | None]:
    """Return the text, and blocks with a Connect button where useful, for a rejected change."""
    if isinstance(error, AlreadyScheduled) and error.scheduled_at is not None:
        text = f"This post is already scheduled for {times.format_local(error.scheduled_at, tz_name)}. Nothing changed."
        return text, None
    if isinstance(error, CannotPostAs) and error.needs_connect:
        text = f"{error} Connect LinkedIn with the button below or run /linkedin connect."
        return text, card_view.notice(text, connect=True)
    return str(error), None


def parse_value(value: str) -> tuple[int, int, str | None]:
    """Split a button value f"{post_id}:{revision}[:{extra}]"."""
    parts = (value or "").split(":")
    return int(parts[0]), int(parts[1]), parts[2] if len(parts) > 2 else None


def _team(body: dict) -> str:
    return (body.get("user") or {}).get("team_id") or body["team"]["id"]


# --- Reading the card's pickers ------------------------------------------------------------


def picked(body: dict, action_id: str) -> dict | None:
    """Return the state of the card element `action_id`, whatever its block_id."""
    for block in ((body.get("state") or {}).get("values") or {}).values():
        if action_id in block:
            return block[action_id]
    return None


def picked_author(body: dict, post: Post) -> str | None:
    state = picked(body, card_view.AUTHOR) or {}
    option = state.get("selected_option")
    return card_view.parse_author(option["value"]) if option else post.author_organization_id


def picked_time(body: dict, post: Post, tz_name: str, *, required: bool):
    """Return the UTC time chosen on the card: the pickers' values, else the post's time."""
    date_str = (picked(body, card_view.DATE) or {}).get("selected_date")
    time_str = (picked(body, card_view.TIME) or {}).get("selected_time")
    if date_str and time_str:
        return times.local_to_utc(date_str, time_str, tz_name)
    if date_str or time_str:
        raise InvalidTime("Choose both a date and a time on the card.")
    if required and post.scheduled_at is None:
        raise InvalidTime("Choose a date and a time on the card first, then press Approve & schedule.")
    return post.scheduled_at


# --- Card and Home actions -------------------------------------------------------------------


def card_action(services: Services, body: dict, client, action: dict) -> None:
    """Apply one card/Home button and refresh what shows the post."""
    action_id = action["action_id"]
    user_id, team_id = body["user"]["id"], _team(body)
    post_id, revision, _extra = parse_value(action.get("value", ""))
    tz = user_tz(services, client, team_id, user_id)
    try:
        with transaction(services.sessions) as session:
            post = get_post(session, post_id, for_update=True)
            message = apply_action(services, session, post, action_id, body, user_id=user_id, team_id=team_id, revision=revision, tz=tz)
            owner = post.owner_user_id
    except PostRuleError as error:
        logger.info("%s on post %s rejected for team %s user %s: %s", action_id, post_id, team_id, user_id, type(error).__name__)
        text, blocks = rule_message(services, error, tz)
        tell(services, body, client, text, blocks)
        return

    logger.info("%s on post %s done for team %s user %s", action_id, post_id, team_id, user_id)
    if action_id in (card_view.DISCARD, list_view.POST_DISCARD):
        _show_discarded(services, client, body, message)
    else:
        refresh_card(services, client, post_id)
        if message:
            tell(services, body, client, message)
    refresh_home(services, team_id, owner)
    if action_id in (card_view.APPROVE_SCHEDULE, card_view.APPROVE_NOW):
        # A post scheduled after the LinkedIn token expires gets its reminder now.
        send_expiry_reminders(services, team_id=team_id, user_id=owner)
    kick(services)


def apply_action(services: Services, session, post: Post, action_id: str, body: dict, *, user_id: str, team_id: str, revision: int, tz: str) -> str:
    """Run the storage rule behind `action_id`. Return a confirmation for the user."""
    now = services.clock()
    rules = dict(team_id=team_id, actor_user_id=user_id, now=now)
    if action_id in (card_view.UNSCHEDULE, list_view.POST_UNSCHEDULE):
        unschedule(session, post, expected_revision=revision, **rules)
        return "Unscheduled: the post is a draft again and will not be published until you approve it."
    if action_id in (card_view.DISCARD, list_view.POST_DISCARD):
        location = (post.channel_id, post.card_ts, post.id)
        discard(session, post, expected_revision=revision, **rules)
        return json.dumps(location)
    if action_id == card_view.SAVE:
        _apply_picks(session, post, body, revision, tz, rules, required_time=False)
        return "Saved as a draft. It will not be published until you approve it."

    if action_id == card_view.APPROVE_SCHEDULE:
        scheduled_at = _approve_with_picks(services, session, post, body, revision, tz, rules, now=False)
        return f"Approved. The post will be published {times.format_local(scheduled_at, tz)}."
    if action_id == card_view.APPROVE_NOW:
        _approve_with_picks(services, session, post, body, revision, tz, rules, now=True)
        return "Approved. The post will be published within a minute."
    raise PostRuleError("That button is not supported.")


def _apply_picks(session, post: Post, body: dict, revision: int, tz: str, rules: dict, *, required_time: bool) -> int:
    """Store the card's author and time choices if they differ. Return the revision to approve."""
    if post.revision != revision:
        raise OutOfDate()
    author = picked_author(body, post)
    scheduled_at = picked_time(body, post, tz, required=required_time)
    if author == post.author_organization_id and scheduled_at == post.scheduled_at:
        return post.revision
    edit_post(session, post, expected_revision=revision, author_organization_id=author, scheduled_at=scheduled_at, **rules)
    return post.revision


def _approve_with_picks(services: Services, session, post: Post, body: dict, revision: int, tz: str, rules: dict, *, now: bool):
    author = picked_author(body, post)
    scheduled_at = None if now else picked_time(body, post, tz, required=True)
    if post.status == PostStatus.SCHEDULED and is_approved_as_is(post) and author == post.author_organization_id and (now or scheduled_at == post.scheduled_at):
        # A second click, or a click after a restart, asking for what is already approved.
        raise AlreadyScheduled(post.scheduled_at)
    if post.revision != revision:
        raise OutOfDate()
    if author != post.author_organization_id:
        edit_post(session, post, expected_revision=revision, author_organization_id=author, **rules)
    rights = posting_rights(session, rules["team_id"], post.owner_user_id)
    # approve() stores the time itself, so choosing a time does not bump the revision.
    approve(session, post, expected_revision=post.revision, scheduled_at=scheduled_at, rights=rights, **rules)
    return post.scheduled_at


def _show_discarded(services: Services, client, body: dict, location_json: str) -> None:
    channel_id, card_ts, post_id = json.loads(location_json)
    if channel_id and card_ts:
        try:
            client.chat_update(channel=channel_id, ts=card_ts, text="Post discarded",
                               blocks=[{"type": "context", "elements": [{"type": "mrkdwn", "text": f"Draft #{post_id} was discarded."}]}])
        except SlackApiError as error:
            logger.info("card of discarded post %s not updated: %s", post_id, error.response.get("error"))
    if (body.get("container") or {}).get("type") == "view":
        tell(services, body, client, "The post was discarded.")


def open_edit(services: Services, body: dict, client, value: str) -> None:
    """Open the write modal prefilled with the post, for its owner and its current revision only."""
    user_id, team_id = body["user"]["id"], _team(body)
    post_id, revision, _ = parse_value(value)
    tz = user_tz(services, client, team_id, user_id)
    with services.sessions() as session:
        try:
            post = get_post(session, post_id)
            check_card(post, team_id=team_id, actor_user_id=user_id, expected_revision=revision)
        except PostRuleError as error:
            tell(services, body, client, str(error))
            return
        view = modals.write_modal(post, card_context(services, session, team_id, user_id, tz))
    client.views_open(trigger_id=body["trigger_id"], view=view)


def open_alt_text(services: Services, body: dict, client, value: str) -> None:
    user_id, team_id = body["user"]["id"], _team(body)
    post_id, revision, image_id = parse_value(value)
    with services.sessions() as session:
        try:
            post = get_post(session, post_id)
            check_card(post, team_id=team_id, actor_user_id=user_id, expected_revision=revision)
            image = next((i for i in post.images if str(i.id) == image_id), None)
            if image is None:
                raise PostRuleError("That image is no longer attached to the post.")
        except PostRuleError as error:
            tell(services, body, client, str(error))
            return
        view = modals.alt_text_modal(post, image.id, image.alt_text)
    client.views_open(trigger_id=body["trigger_id"], view=view)


# --- The write modal --------------------------------------------------------------------------


def read_write_modal(view: dict) -> dict:
    values = view["state"]["values"]

    def state(block_id: str) -> dict:
        return values.get(block_id, {}).get(block_id, {}) or {}

    option = state(modals.AUTHOR).get("selected_option")
    return {
        "text": state(modals.TEXT).get("value") or "",
        "author": card_view.parse_author(option["value"]) if option else None,
        "date": state(modals.DATE).get("selected_date"),
        "time": state(modals.TIME).get("selected_time"),
        "tz": state(modals.TIME).get("timezone"),
        "approve": bool(state(modals.APPROVE).get("selected_options")),
        "files": state(modals.IMAGE).get("files") or [],
    }


def check_write_values(values: dict, tz: str, now) -> object:
    """Validate the modal's values. Return the UTC time (or None). Raises FieldError."""
    try:
        validate_text(values["text"])
    except InvalidText as error:
        raise FieldError(modals.TEXT, str(error)) from error
    if bool(values["date"]) != bool(values["time"]):
        missing = modals.TIME if values["date"] else modals.DATE
        raise FieldError(missing, "Choose both a date and a time, or neither to save without a time.")
    if values["approve"] and not values["date"]:
        raise FieldError(modals.DATE, "Choose a date and a time to approve and schedule the post.")
    if not values["date"]:
        return None
    try:
        scheduled_at = times.local_to_utc(values["date"], values["time"], tz)
        validate_time(scheduled_at, now)
    except InvalidTime as error:
        raise FieldError(modals.TIME, str(error)) from error
    return scheduled_at


def save_write_modal(services: Services, session, meta: dict, values: dict, scheduled_at, *, team_id: str, user_id: str) -> Post:
    """Create or edit the post from the modal, and approve it if the box is ticked."""
    now = services.clock()
    if meta.get("post_id"):
        post = get_post(session, meta["post_id"], for_update=True)
        edit_post(session, post, team_id=team_id, actor_user_id=user_id, now=now, expected_revision=meta.get("revision"),
                  text=values["text"], author_organization_id=values["author"], scheduled_at=scheduled_at)
    else:
        post = create_draft(session, team_id=team_id, owner_user_id=user_id, now=now, text=values["text"], author_organization_id=values["author"])
        post.scheduled_at = scheduled_at
    if values["approve"]:
        rights = posting_rights(session, team_id, user_id)
        try:
            approve(session, post, team_id=team_id, actor_user_id=user_id, expected_revision=post.revision,
                    scheduled_at=scheduled_at, rights=rights, now=now)
        except CannotPostAs as error:
            raise FieldError(modals.AUTHOR, f"{error} Run /linkedin connect, or untick the approval box to save a draft.") from error
        except InvalidTime as error:
            raise FieldError(modals.TIME, str(error)) from error
    for file in values["files"][:1]:
        payload = {"post_id": post.id, "channel": None, "thread_ts": None, "files": [{k: file.get(k) for k in ("id", "name", "title", "size", "url_private_download", "url_private")}]}
        enqueue(session, kind=ATTACH, team_id=team_id, user_id=user_id, payload=payload, now=now)
    return post


def write_submitted(services: Services, ack, body: dict, view: dict, client) -> None:
    meta = json.loads(view.get("private_metadata") or "{}")
    values = read_write_modal(view)
    team_id, user_id = _team(body), body["user"]["id"]
    tz = values["tz"] or meta.get("tz") or "UTC"
    try:
        scheduled_at = check_write_values(values, tz, services.clock())
        with transaction(services.sessions) as session:
            post = save_write_modal(services, session, meta, values, scheduled_at, team_id=team_id, user_id=user_id)
            post_id, approved = post.id, post.approved_by is not None
    except FieldError as error:
        ack(response_action="errors", errors={error.block_id: str(error)[:2000]})
        return
    except PostRuleError as error:
        # Out of date, not the owner, or a state that cannot change: the modal stays open with the text.
        ack(response_action="errors", errors={modals.TEXT: f"{error} Copy your text before closing this form."})
        return
    ack()
    logger.info("post %s saved from the write modal for team %s user %s (approved: %s)", post_id, team_id, user_id, approved)
    refresh_card(services, client, post_id)
    refresh_home(services, team_id, user_id)
    if approved:
        send_expiry_reminders(services, team_id=team_id, user_id=user_id)
    kick(services)


def alt_text_submitted(services: Services, ack, body: dict, view: dict, client) -> None:
    meta = json.loads(view.get("private_metadata") or "{}")
    alt = (view["state"]["values"].get(modals.ALT, {}).get(modals.ALT, {}).get("value") or "").strip()
    team_id, user_id = _team(body), body["user"]["id"]
    try:
        with transaction(services.sessions) as session:
            post = get_post(session, meta["post_id"], for_update=True)
            if post.revision != meta.get("revision"):
                raise OutOfDate()
            set_image_alt_text(session, post, meta["image_id"], alt, team_id=team_id, actor_user_id=user_id, now=services.clock())
    except PostRuleError as error:
        ack(response_action="errors", errors={modals.ALT: str(error)})
        return
    ack()
    refresh_card(services, client, meta["post_id"])
    refresh_home(services, team_id, user_id)


def open_write(services: Services, client, trigger_id: str, team_id: str, user_id: str) -> None:
    tz = user_tz(services, client, team_id, user_id)
    with services.sessions() as session:
        view = modals.write_modal(None, card_context(services, session, team_id, user_id, tz))
    client.views_open(trigger_id=trigger_id, view=view)


# --- Subcommands ----------------------------------------------------------------------------------


@subcommand("write", "write", "write a post by hand, with an optional date, time and approval", opens_modal=True)
def write_command(request: CommandRequest) -> None:
    open_write(request.services, request.client, request.trigger_id, request.team_id, request.user_id)


@subcommand("drafts", "drafts", "list your drafts and scheduled posts")
def drafts_command(request: CommandRequest) -> None:
    services = request.services
    tz = user_tz(services, request.client, request.team_id, request.user_id)
    with services.sessions() as session:
        posts = conversations.list_open_posts(session, request.team_id, request.user_id)
        blocks = list_view.drafts_list(posts, card_context(services, session, request.team_id, request.user_id, tz))
    request.respond(text=f"You have {len(posts)} draft(s) and scheduled post(s).", blocks=blocks)


# --- Registration ---------------------------------------------------------------------------------


def register(app, services: Services) -> None:
    """Add the card, Home and write-modal listeners to the Bolt app."""
    for action_id in DURABLE_CLICKS:
        durable_action(app, services, action_id)

    @app.action(card_view.EDIT)
    @app.action(list_view.POST_EDIT)
    def edit_clicked(ack, body, client, action):
        ack()
        open_edit(services, body, client, action.get("value", ""))

    @app.action(card_view.ALT_TEXT)
    def alt_text_clicked(ack, body, client, action):
        ack()
        open_alt_text(services, body, client, action.get("value", ""))

    @app.action(HOME_WRITE)
    def write_clicked(ack, body, client):
        ack()
        open_write(services, client, body["trigger_id"], _team(body), body["user"]["id"])

    for picker in (card_view.AUTHOR, card_view.DATE, card_view.TIME):
        # The pickers' values are read from the message state when a button is pressed.
        app.action(picker)(lambda ack: ack())

    @app.view(modals.WRITE_CALLBACK)
    def write_view(ack, body, view, client):
        write_submitted(services, ack, body, view, client)

    @app.view(modals.ALT_TEXT_CALLBACK)
    def alt_text_view(ack, body, view, client):
        alt_text_submitted(services, ack, body, view, client)


def _apply_stored_click(services: Services, body: dict, _respond) -> None:
    """Apply a stored card or Home click. Applied twice, it is refused by the revision check."""
    card_action(services, body, services.slack.client_for(_team(body)), body["actions"][0])


# Card and Home buttons that change a post, each applied as a durable task.
DURABLE_CLICKS = durable_work({
    action_id: _apply_stored_click
    for action_id in (card_view.APPROVE_SCHEDULE, card_view.APPROVE_NOW, card_view.SAVE, card_view.DISCARD,
                      card_view.UNSCHEDULE, list_view.POST_UNSCHEDULE, list_view.POST_DISCARD)
})
