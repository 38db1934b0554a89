"""Buttons whose work is stored as a durable task before Slack gets its acknowledgement.

`durable_work` registers, at import, the work each such button runs as a task, and
`durable_action` registers a block action listener that stores the parts of the payload
that work needs, acknowledges, and wakes the task runner. The work then runs in the worker
(or in `companycore run`'s one process), with a `respond` that posts to the click's
response_url. A restart between the click and the work loses nothing, and the web process
never spends the acknowledgement's time on it. Buttons that open a modal cannot be
deferred, because the trigger_id expires 3 seconds after the click.

A stored payload never holds Slack's verification token or a view's blocks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_sdk.webhook import WebhookClient
from sqlalchemy.exc import SQLAlchemyError

from bot.context import Services
from bot.tasks import enqueue_now, task_handler
from storage.models import Task

logger = logging.getLogger(__name__)

# The work of a deferred button, called with the services, the stored payload and a respond().
ActionWork = Callable[[Services, dict, Callable[..., None]], None]

_KEPT_FIELDS = ("user", "team", "enterprise", "container", "channel", "actions", "response_url")


def stored_body(body: dict) -> dict:
    """Return the parts of a block_actions payload that deferred work reads."""
    kept = {key: body[key] for key in _KEPT_FIELDS if key in body}
    kept["state"] = body.get("state") or (body.get("view") or {}).get("state") or {}
    message = body.get("message") or {}
    if message:
        kept["message"] = {key: message[key] for key in ("ts", "thread_ts") if key in message}
    return kept


def webhook_responder(response_url: str) -> Callable[..., None]:
    """Return a function that replies like Bolt's respond(): ephemeral unless `response_type` is given."""

    def respond(text: str = "", blocks: list | None = None, response_type: str = "ephemeral", **options) -> None:
        if not response_url:
            logger.warning("no response_url to reply to; the reply was dropped")
            return
        response = WebhookClient(response_url).send(text=text, blocks=blocks, response_type=response_type, **options)
        if response.status_code != 200:
            logger.warning("reply through a response_url failed with HTTP %s", response.status_code)

    return respond


def _team_and_user(body: dict) -> tuple[str, str]:
    user = body.get("user") or {}
    team = user.get("team_id") or (body.get("team") or {}).get("id") or ""
    return team, user.get("id", "")


def task_kind(action_id: str) -> str:
    return f"slack.action.{action_id}"


def durable_work(works: dict[str, ActionWork]) -> dict[str, ActionWork]:
    """Register the task handlers of deferred buttons ({action_id: work}) and return them.

    Call it at module level, so a worker process that only imports the listener modules
    can run the stored clicks without building the Bolt app.
    """
    for action_id, work in works.items():
        task_handler(task_kind(action_id))(_stored_action_runner(work))
    return works


def _stored_action_runner(work: ActionWork) -> Callable[[Services, Task], None]:
    def run_stored_action(services: Services, task: Task) -> None:
        body = task.payload
        work(services, body, webhook_responder(body.get("response_url", "")))

    return run_stored_action


def durable_action(app, services: Services, action_id: str) -> None:
    """Register a listener that stores a click on `action_id` as a task, then acknowledges.

    The task's work must have been registered with `durable_work`.
    """
    kind = task_kind(action_id)

    @app.action(action_id)
    def store_then_ack(ack, body):
        team_id, user_id = _team_and_user(body)
        try:
            enqueue_now(services, kind=kind, team_id=team_id, user_id=user_id, payload=stored_body(body))
        except SQLAlchemyError:
            logger.exception("could not store %s for team %s user %s", action_id, team_id, user_id)
            ack()
            webhook_responder(body.get("response_url", ""))(
                text="Sorry, companycore could not take that click right now. Try again in a minute.", replace_original=False
            )
            return
        ack()
        services.task_runner.kick()
