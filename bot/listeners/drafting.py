"""Drafting with the AI agent: start a draft conversation, revise it, show the card.

Entry points: `/linkedin new <brief>`, the Home button `home_new_ai_draft` (opens a modal
for the brief), the message shortcut `draft_from_message`, direct messages (see
bot.listeners.messages) and the assistant container. Each one stores the post, the user's
turn and a durable `draft.generate` task in one transaction, and acknowledges Slack; the
task then posts the thread and the "Drafting…" placeholder, calls the model, and replaces
the placeholder with the draft card.

The agent's text is stored through `storage.posts.revise_from_agent`, so it is a draft like
any other: nothing here approves, schedules or publishes.

This module also holds the helpers the other drafting listeners share: the Slack client of
a workspace outside a request, the user's time zone, the card refresh and the Home refresh.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.agent import AgentError, AgentNotConfigured, Turn, build_agent, encode_reply
from bot.context import Services
from bot.subcommands import CommandRequest, subcommand
from bot.tasks import enqueue, task_handler
from bot.views import draft_card as card_view
from bot.views import modals
from storage import conversations, profiles
from storage.connections import connection_summary
from storage.db import transaction
from storage.events import claim_event
from storage.models import Post, SlackUser, Task
from storage.posts import PostRuleError, create_draft, revise_from_agent

logger = logging.getLogger(__name__)

GENERATE = "draft.generate"
NEW_AI_DRAFT = "home_new_ai_draft"
MESSAGE_SHORTCUT = "draft_from_message"
BRIEF_CALLBACK = modals.BRIEF_CALLBACK
TZ_CACHE = timedelta(days=1)
PLACEHOLDER = "Drafting… ✍️"
NOT_CONFIGURED = "AI drafting is not configured on this app, so I cannot draft posts for you. You can still write a post by hand and schedule it here."
SUGGESTED_PROMPTS = [
    {"title": "Announce a launch", "message": "Write a post announcing our new feature and why it matters to our customers."},
    {"title": "Share a lesson", "message": "Write a post about a lesson I learned this week at work."},
    {"title": "Celebrate the team", "message": "Write a post thanking my team for shipping a big project."},
]


# --- Shared helpers ----------------------------------------------------------------------


def web_client(services: Services, team_id: str) -> WebClient:
    """Return a Web API client for `team_id` outside a Slack request (tasks, refreshes)."""
    slack = services.slack
    for name in ("client_for", "client_for_team", "web_client"):
        factory = getattr(slack, name, None)
        if callable(factory):
            return factory(team_id)
    if slack is not None and hasattr(slack, "chat_postMessage"):
        return slack
    # NOTE: single-workspace fallback; multi-workspace installs need services.slack.
    return WebClient(token=services.settings.slack_bot_token, base_url=services.settings.slack_api_base)


def dm_channel(client: WebClient, user_id: str) -> str:
    return client.conversations_open(users=user_id)["channel"]["id"]


def user_tz(services: Services, client: WebClient, team_id: str, user_id: str) -> str:
    """Return the user's IANA time zone, from the cache or from users.info."""
    shared = getattr(services.slack, "user_timezone", None)
    if callable(shared):
        return shared(team_id, user_id)
    now = services.clock()
    with services.sessions() as session:
        row = session.scalar(select(SlackUser).where(SlackUser.team_id == team_id, SlackUser.user_id == user_id))
        if row is not None and row.tz and row.tz_checked_at and now - row.tz_checked_at < TZ_CACHE:
            return row.tz
    try:
        tz = client.users_info(user=user_id)["user"].get("tz") or "UTC"
    except SlackApiError as error:
        logger.warning("users.info failed for team %s user %s: %s; using UTC", team_id, user_id, error.response.get("error"))
        return row.tz if row is not None and row.tz else "UTC"
    _store_tz(services, team_id, user_id, tz)
    return tz


def _store_tz(services: Services, team_id: str, user_id: str, tz: str) -> None:
    now = services.clock()
    try:
        with transaction(services.sessions) as session:
            row = session.scalar(select(SlackUser).where(SlackUser.team_id == team_id, SlackUser.user_id == user_id))
            if row is None:
                row = SlackUser(team_id=team_id, user_id=user_id)
                session.add(row)
            row.tz = tz
            row.tz_checked_at = now
    except IntegrityError:
        # Another request created the row at the same moment; its value is as fresh.
        logger.info("time zone of team %s user %s was cached by a concurrent request", team_id, user_id)


def card_context(services: Services, session, team_id: str, user_id: str, tz_name: str) -> card_view.CardContext:
    row = connection_summary(session, team_id, user_id)
    member_name = row.member_name if row is not None else ""
    pages = [(org_id, page_name(services, org_id)) for org_id in (row.organization_ids or [])] if row is not None else []
    return card_view.CardContext(member_name=member_name, pages=pages, tz_name=tz_name, now=services.clock())


class _NotCached(Exception):
    pass


def page_name(services: Services, organization_id: str) -> str:
    """Return a page's name if the LinkedIn side has it cached, else "Page <id>".

    Never calls LinkedIn: cards and modals are built within Slack's 3-second window.
    """
    cache = getattr(services.linkedin, "organization_names", None)
    if cache is None or not hasattr(cache, "get_or_fetch"):
        return f"Page {organization_id}"

    def not_cached(_organization_id: str) -> str:
        raise _NotCached()

    try:
        return cache.get_or_fetch(organization_id, not_cached)
    except _NotCached:
        return f"Page {organization_id}"


def render_card(services: Services, client: WebClient, post_id: int) -> tuple[Post, list[dict]] | None:
    with services.sessions() as session:
        owner = session.execute(select(Post.team_id, Post.owner_user_id).where(Post.id == post_id)).first()
    if owner is None:
        return None
    # Looked up outside the session below: SQLite allows one open transaction at a time.
    tz = user_tz(services, client, owner.team_id, owner.owner_user_id)
    with services.sessions() as session:
        post = session.get(Post, post_id)
        if post is None:
            return None
        blocks = card_view.draft_card(post, card_context(services, session, post.team_id, post.owner_user_id, tz))
        post.images  # noqa: B018 - load the images before the session closes
        session.expunge(post)
        return post, blocks


def refresh_card(services: Services, client: WebClient, post_id: int) -> None:
    """Update the post's card in the owner's DM, or post a new card if it has none."""
    rendered = render_card(services, client, post_id)
    if rendered is None:
        return
    post, blocks = rendered
    text = card_view.card_fallback_text(post)
    if post.card_ts and post.channel_id:
        try:
            client.chat_update(channel=post.channel_id, ts=post.card_ts, text=text, blocks=blocks)
            return
        except SlackApiError as error:
            logger.warning("updating the card of post %s failed: %s; posting a new card", post.id, error.response.get("error"))
    channel = post.channel_id or dm_channel(client, post.owner_user_id)
    answer = client.chat_postMessage(channel=channel, text=text, blocks=blocks, thread_ts=post.thread_ts)
    with transaction(services.sessions) as session:
        stored = session.get(Post, post.id)
        if stored is not None:
            stored.channel_id = answer["channel"]
            stored.card_ts = answer["ts"]
            # A card posted at the top level opens the thread where images are uploaded.
            stored.thread_ts = stored.thread_ts or answer["ts"]


def refresh_home(services: Services, team_id: str, user_id: str) -> None:
    """Republish the user's Home tab, if the Home module is present."""
    try:
        from bot.notify import publish_home
    except ImportError:
        return
    try:
        publish_home(services, team_id, user_id)
    except Exception:  # noqa: BLE001 - a failed Home refresh must not undo the change the user made
        logger.exception("refreshing Home failed for team %s user %s", team_id, user_id)


def get_agent(services: Services):
    """Return the process's agent: a test's or one built from Settings (AgentNotConfigured if none)."""
    agent = services.extras.get("agent")
    if agent is None:
        agent = build_agent(services.settings)
        services.extras["agent"] = agent
    return agent


def ai_enabled(services: Services) -> bool:
    return services.extras.get("agent") is not None or services.settings.ai_enabled


def kick(services: Services) -> None:
    if services.task_runner is not None:
        services.task_runner.kick()


# --- Starting and continuing a conversation --------------------------------------------


def start_draft(services: Services, *, team_id: str, user_id: str, brief: str, channel_id: str | None = None,
                thread_ts: str | None = None, event_id: str | None = None, assistant: bool = False) -> int | None:
    """Store a new AI draft with the brief as its first turn, and queue its generation.

    `channel_id`/`thread_ts` place the conversation in an existing thread (the assistant
    container); otherwise the task opens a new thread in the DM. With `event_id`, a
    redelivered event returns None and stores nothing.
    """
    now = services.clock()
    with transaction(services.sessions) as session:
        if event_id and not claim_event(session, event_id, team_id, now):
            logger.info("event %s of team %s was already processed", event_id, team_id)
            return None
        post = create_draft(session, team_id=team_id, owner_user_id=user_id, now=now, source="ai")
        post.channel_id, post.thread_ts = channel_id, thread_ts
        turn = conversations.add_turn(session, post, role=conversations.USER, content=brief, user_id=user_id, now=now)
        enqueue(session, kind=GENERATE, team_id=team_id, user_id=user_id, payload={"post_id": post.id, "turn_id": turn.id, "assistant": assistant}, now=now)
        post_id = post.id
    logger.info("AI draft %s started for team %s user %s", post_id, team_id, user_id)
    kick(services)
    return post_id


def continue_draft(services: Services, session, post: Post, *, user_id: str, message: str, assistant: bool = False) -> None:
    """Add the user's reply to the conversation and queue a revision, in the caller's transaction."""
    now = services.clock()
    turn = conversations.add_turn(session, post, role=conversations.USER, content=message, user_id=user_id, now=now)
    enqueue(session, kind=GENERATE, team_id=post.team_id, user_id=user_id, payload={"post_id": post.id, "turn_id": turn.id, "assistant": assistant}, now=now)


@task_handler(GENERATE)
def generate(services: Services, task: Task) -> None:
    """Run one model call for a user turn. Safe to run twice, because a turn that already has a reply is skipped."""
    post_id, turn_id = task.payload["post_id"], task.payload["turn_id"]
    with services.sessions() as session:
        post = session.get(Post, post_id)
        if post is None or conversations.has_answer_after(session, post_id, turn_id):
            return
        turns = [Turn(t.role, t.content) for t in conversations.list_turns(session, post_id)]
        profile = profiles.load_profile(session, post.team_id, post.owner_user_id)
        current_text = post.text
        session.expunge(post)

    client = web_client(services, task.team_id)
    channel_id, thread_ts = _ensure_thread(services, client, post, turns[0].content if turns else "")
    placeholder = client.chat_postMessage(channel=channel_id, thread_ts=thread_ts, text=PLACEHOLDER)["ts"]
    if task.payload.get("assistant"):
        _set_status(client, channel_id, thread_ts)

    try:
        reply = get_agent(services).draft(profile, _with_hand_edits(turns, current_text))
    except AgentError as error:
        logger.warning("draft %s of team %s user %s got no draft from the model: %s", post_id, task.team_id, task.user_id, type(error).__name__)
        configured = not isinstance(error, AgentNotConfigured)
        text = str(error) if configured else NOT_CONFIGURED
        client.chat_update(channel=channel_id, ts=placeholder, text=text, blocks=card_view.notice(text, write_by_hand=True))
        return

    old_card_ts = _store_reply(services, post_id, turn_id, reply, placeholder, client, channel_id)
    if old_card_ts is None:
        return
    refresh_card(services, client, post_id)
    if old_card_ts:
        _supersede(client, channel_id, old_card_ts, post_id)
    refresh_home(services, task.team_id, task.user_id)


def _with_hand_edits(turns: list[Turn], current_text: str) -> list[Turn]:
    """Tell the model about the current text when the user changed it by hand since its last draft."""
    last_draft = next((t.content for t in reversed(turns) if t.role == conversations.ASSISTANT), None)
    try:
        last_text = json.loads(last_draft).get("text") if last_draft else ""
    except (ValueError, AttributeError):
        last_text = ""
    if not current_text.strip() or current_text == last_text:
        return turns
    note = Turn("user", f"(The current draft, which I edited by hand, is:)\n{current_text}")
    return turns[:-1] + [note, turns[-1]]


def _store_reply(services: Services, post_id: int, turn_id: int, reply, placeholder: str, client: WebClient, channel_id: str) -> str | None:
    """Store the assistant turn and the revised text. Return the old card's ts ("" if none), or None to stop."""
    now = services.clock()
    with transaction(services.sessions) as session:
        post = session.get(Post, post_id)
        if post is None or conversations.has_answer_after(session, post_id, turn_id):
            client.chat_delete(channel=channel_id, ts=placeholder)
            return None
        try:
            revise_from_agent(session, post, text=reply.text, media_suggestions=reply.media_suggestions, now=now)
        except PostRuleError as error:
            client.chat_update(channel=channel_id, ts=placeholder, text=f"{error} Start a new draft with /linkedin new.")
            return None
        conversations.add_turn(session, post, role=conversations.ASSISTANT, content=encode_reply(reply), user_id=post.owner_user_id, now=now)
        old_card_ts = post.card_ts or ""
        post.card_ts = placeholder
    logger.info("draft %s revised by the agent for team %s user %s", post_id, post.team_id, post.owner_user_id)
    return old_card_ts


def _ensure_thread(services: Services, client: WebClient, post: Post, brief: str) -> tuple[str, str]:
    """Return the post's DM channel and thread, opening them with a top-level message if new."""
    if post.channel_id and post.thread_ts:
        return post.channel_id, post.thread_ts
    channel_id = post.channel_id or dm_channel(client, post.owner_user_id)
    preview = " ".join(brief.split())[:200]
    top = client.chat_postMessage(channel=channel_id, text=f"New LinkedIn draft: {preview}\nReply in this thread to change it, or upload an image here to attach it.")
    with transaction(services.sessions) as session:
        stored = session.get(Post, post.id)
        stored.channel_id, stored.thread_ts = top["channel"], top["ts"]
    return top["channel"], top["ts"]


def _set_status(client: WebClient, channel_id: str, thread_ts: str) -> None:
    try:
        client.assistant_threads_setStatus(channel_id=channel_id, thread_ts=thread_ts, status="is drafting…")
    except SlackApiError as error:
        logger.info("assistant status not set in %s: %s", channel_id, error.response.get("error"))


def _supersede(client: WebClient, channel_id: str, card_ts: str, post_id: int) -> None:
    try:
        client.chat_update(channel=channel_id, ts=card_ts, text="An older version of this draft", blocks=card_view.superseded_card(post_id))
    except SlackApiError as error:
        logger.info("older card of post %s not replaced: %s", post_id, error.response.get("error"))


# --- Slack entry points ------------------------------------------------------------------


@subcommand("new", "new <what the post is about>", "draft a post with the AI agent in our direct messages")
def new_command(request: CommandRequest) -> None:
    brief = request.args.strip()
    services = request.services
    if not ai_enabled(services):
        request.respond(text=NOT_CONFIGURED, blocks=card_view.notice(NOT_CONFIGURED, write_by_hand=True))
        return
    if not brief:
        request.respond(text="Tell me what the post is about, for example: `/linkedin new our beta launch and what we learned`.")
        return
    start_draft(services, team_id=request.team_id, user_id=request.user_id, brief=brief)
    if not request.channel_id.startswith("D"):
        request.respond(text="I am drafting your post in our direct messages (the app's Messages tab). Continue the conversation there.")


@subcommand("profile", "profile", "tell the AI agent about you, your company, audience, tone and language", opens_modal=True)
def profile_command(request: CommandRequest) -> None:
    with request.services.sessions() as session:
        profile = profiles.load_profile(session, request.team_id, request.user_id)
    request.client.views_open(trigger_id=request.trigger_id, view=modals.profile_modal(profile))


def register(app, services: Services) -> None:
    """Add the drafting listeners to the Bolt app."""

    @app.action(NEW_AI_DRAFT)
    def new_from_home(ack, body, client):
        ack()
        user_id = body["user"]["id"]
        if not ai_enabled(services):
            team_id = body["user"].get("team_id") or body["team"]["id"]
            tz = user_tz(services, client, team_id, user_id)
            with services.sessions() as session:
                context = card_context(services, session, team_id, user_id, tz)
            view = modals.write_modal(None, context)
            view["blocks"].insert(0, {"type": "context", "elements": [{"type": "mrkdwn", "text": NOT_CONFIGURED}]})
            client.views_open(trigger_id=body["trigger_id"], view=view)
            return
        client.views_open(trigger_id=body["trigger_id"], view=modals.brief_modal())

    @app.view(BRIEF_CALLBACK)
    def brief_submitted(ack, body, view):
        brief = (view["state"]["values"][modals.BRIEF][modals.BRIEF].get("value") or "").strip()
        if not brief:
            ack(response_action="errors", errors={modals.BRIEF: "Tell the AI what the post is about."})
            return
        ack()
        start_draft(services, team_id=body["user"].get("team_id") or body["team"]["id"], user_id=body["user"]["id"], brief=brief)

    @app.shortcut(MESSAGE_SHORTCUT)
    def draft_from_message(ack, body, respond):
        ack()
        team_id, user_id = body["team"]["id"], body["user"]["id"]
        if not ai_enabled(services):
            respond(text=NOT_CONFIGURED, blocks=card_view.notice(NOT_CONFIGURED, write_by_hand=True))
            return
        message_text = (body.get("message") or {}).get("text") or ""
        if not message_text.strip():
            respond(text="That message has no text to draft a post from. Run /linkedin new with a short brief instead.")
            return
        brief = f"Write a LinkedIn post based on this Slack message:\n\n{message_text}"
        start_draft(services, team_id=team_id, user_id=user_id, brief=brief)
        respond(text="I am drafting a post from that message in our direct messages (the app's Messages tab).")

    @app.view(modals.PROFILE_CALLBACK)
    def profile_submitted(ack, body, view):
        values = view["state"]["values"]
        fields = {name: (values.get(name, {}).get(name, {}).get("value") or "") for name in profiles.FIELD_NAMES}
        fields["language"] = fields["language"].strip() or "English"
        ack()
        team_id = body["user"].get("team_id") or body["team"]["id"]
        with transaction(services.sessions) as session:
            profiles.save_profile(session, team_id, body["user"]["id"], profiles.ProfileFields(**fields), services.clock())
        logger.info("AI profile saved for team %s user %s", team_id, body["user"]["id"])

    @app.event("assistant_thread_started")
    def assistant_started(body, event, client):
        thread = event.get("assistant_thread") or {}
        try:
            client.assistant_threads_setSuggestedPrompts(
                channel_id=thread["channel_id"], thread_ts=thread["thread_ts"],
                title="What should your LinkedIn post be about?", prompts=SUGGESTED_PROMPTS,
            )
        except SlackApiError as error:
            logger.warning("suggested prompts not set for team %s: %s", body.get("team_id"), error.response.get("error"))

    @app.event("assistant_thread_context_changed")
    def assistant_context_changed():
        """Nothing depends on the channel the user is looking at."""
