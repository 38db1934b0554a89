"""Buttons of the publisher's DMs and the Home's retry: the owner decides about a post.

- "Publish now" on a missed post, and "Try again" (`post_retry`) on a failed one, approve
  the post's current revision again for right now.
- "Reschedule" on a missed post points to the card's edit flow, where the date and time
  pickers are.
- "It was published" / "Publish again" settle a post of unknown outcome.

Each handler acks first, then calls the post lifecycle (storage.posts) with the clicking
user as actor, so only the owner, on the current revision, can move the post. The worker
picks up a post approved for now within about a second. Handlers never call LinkedIn.
"""

from __future__ import annotations

import logging

from bot import notify
from bot.listeners.deferred import durable_action, durable_work
from bot.views import notices
from storage import posts as lifecycle
from storage.connections import posting_rights
from storage.db import transaction

logger = logging.getLogger(__name__)


def register(app, services) -> None:
    """Add this module's listeners to the Bolt app."""

    # Buttons that change a post are stored before the acknowledgement and run as tasks.
    for action_id in DURABLE_CLICKS:
        durable_action(app, services, action_id)

    @app.action(notices.RESCHEDULE)
    def reschedule_missed(ack, body, respond):
        ack()
        post_id, revision = _post_of(body)
        text, blocks = notices.action_result("Choose a new date and time on the post's card.")
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Edit post"},
                        "action_id": notices.POST_EDIT,
                        "value": notices.post_value(post_id, revision),
                        "style": "primary",
                    }
                ],
            }
        )
        _tell(services, body, respond, text, blocks)


def _publish_missed_now(services, body: dict, respond) -> None:
    _approve_for_now(services, body, respond, "Publishing your post now. You will get a message when it is on LinkedIn.")


def _retry_failed(services, body: dict, respond) -> None:
    _approve_for_now(services, body, respond, "Trying your post again now. You will get a message when it is on LinkedIn.")


def _confirm_published(services, body: dict, respond) -> None:
    _resolve(services, body, respond, was_published=True)


def _publish_again(services, body: dict, respond) -> None:
    _resolve(services, body, respond, was_published=False)


def _actor(body: dict) -> tuple[str, str]:
    user = body.get("user") or {}
    team_id = user.get("team_id") or (body.get("team") or {}).get("id") or ""
    return team_id, user.get("id", "")


def _post_of(body: dict) -> tuple[int, int]:
    return notices.parse_post_value(body["actions"][0]["value"])


def _approve_for_now(services, body: dict, respond, success: str) -> None:
    team_id, user_id = _actor(body)
    post_id, revision = _post_of(body)
    now = services.clock()
    try:
        with transaction(services.sessions) as session:
            post = lifecycle.get_post(session, post_id, for_update=True)
            lifecycle.approve(
                session, post, team_id=team_id, actor_user_id=user_id, expected_revision=revision,
                scheduled_at=None, rights=posting_rights(session, team_id, user_id), now=now,
            )
    except lifecycle.AlreadyScheduled:
        _tell(services, body, respond, *notices.action_result("This post is already queued to publish."))
        return
    except lifecycle.PostRuleError as error:
        logger.info("approval for now rejected for team %s user %s post %s: %s", team_id, user_id, post_id, type(error).__name__)
        _tell(services, body, respond, *notices.action_result(str(error)), replace=False)
        return

    logger.info("team %s user %s approved post %s for now", team_id, user_id, post_id)
    _tell(services, body, respond, *notices.action_result(success))
    notify.publish_home(services, team_id, user_id)


def _resolve(services, body: dict, respond, was_published: bool) -> None:
    team_id, user_id = _actor(body)
    post_id, _revision = _post_of(body)
    now = services.clock()
    try:
        with transaction(services.sessions) as session:
            post = lifecycle.get_post(session, post_id, for_update=True)
            lifecycle.resolve_outcome_unknown(
                session, post, team_id=team_id, actor_user_id=user_id, was_published=was_published,
                rights=posting_rights(session, team_id, user_id), now=now,
            )
    except lifecycle.PostRuleError as error:
        logger.info("outcome decision rejected for team %s user %s post %s: %s", team_id, user_id, post_id, type(error).__name__)
        _tell(services, body, respond, *notices.action_result(str(error)), replace=False)
        return

    logger.info("team %s user %s settled post %s: was_published=%s", team_id, user_id, post_id, was_published)
    if was_published:
        message = "Thanks. The post is marked as published."
    else:
        message = "Publishing your post again now. You will get a message when it is on LinkedIn."
    _tell(services, body, respond, *notices.action_result(message))
    notify.publish_home(services, team_id, user_id)


def _respond(respond, text: str, blocks: list, replace: bool = True) -> None:
    try:
        respond(text=text, blocks=blocks, replace_original=replace)
    except Exception:
        logger.exception("replying to a publisher button click failed")


def _tell(services, body: dict, respond, text: str, blocks: list, replace: bool = True) -> None:
    """Reply in the message clicked, or by DM for a click in the Home tab (no response_url)."""
    if body.get("response_url"):
        _respond(respond, text, blocks, replace)
        return
    team_id, user_id = _actor(body)
    notify.dm(services, team_id, user_id, text, blocks)


DURABLE_CLICKS = durable_work({
    notices.PUBLISH_NOW: _publish_missed_now,
    notices.POST_RETRY: _retry_failed,
    notices.OUTCOME_PUBLISHED: _confirm_published,
    notices.OUTCOME_PUBLISH_AGAIN: _publish_again,
})
