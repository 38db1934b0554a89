"""The /linkedin slash command: acknowledge at once, then run the named subcommand.

Subcommands live in `bot.subcommands.SUBCOMMANDS`; this module registers `connect`,
`disconnect`, `status`, `delete-my-data` and `help`, and other listener modules register
theirs. A subcommand that opens a modal runs at once, because the trigger_id expires after
3 seconds; every other one is stored as a durable task before the acknowledgement and
runs after it. Replies only the user should see go to the response_url (ephemeral).
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError

from bot import connect, notify
from bot.listeners.deferred import webhook_responder
from bot.subcommands import SUBCOMMANDS, CommandRequest, subcommand
from bot.tasks import enqueue_now, task_handler
from bot.views.connection import connect_blocks, delete_my_data_blocks, status_text
from storage.connections import connection_summary
from storage.models import Task

logger = logging.getLogger(__name__)

COMMAND = "/linkedin"
RUN_SUBCOMMAND = "slack.subcommand"
# Subcommands another module will register; until then the user hears they are coming.
PLANNED = {
    "new": "start a post with the AI assistant",
    "write": "write a post yourself",
    "drafts": "list your drafts and scheduled posts",
    "profile": "tell the AI assistant about you and your audience",
}


def parse(text: str) -> tuple[str, str]:
    """Split the command text into (subcommand name, the rest)."""
    parts = (text or "").strip().split(maxsplit=1)
    if not parts:
        return "", ""
    return parts[0].lower(), parts[1] if len(parts) > 1 else ""


def help_text() -> str:
    lines = ["*Use `/linkedin` with one of these:*"]
    for name in sorted(SUBCOMMANDS):
        command = SUBCOMMANDS[name]
        lines.append(f"• `/linkedin {command.usage}`: {command.summary}")
    for name, summary in PLANNED.items():
        if name not in SUBCOMMANDS:
            lines.append(f"• `/linkedin {name}`: {summary} (coming soon)")
    return "\n".join(lines)


def register(app, services) -> None:
    @app.command(COMMAND)
    def handle_linkedin_command(ack, body, respond, client):
        name, args = parse(body.get("text", ""))
        command = SUBCOMMANDS.get(name)
        if command is not None and command.opens_modal:
            ack()
            dispatch(name, _request(services, body, args, respond=respond, client=client))
            return

        # Stored before the acknowledgement, so a restart right after it loses nothing.
        try:
            enqueue_now(services, kind=RUN_SUBCOMMAND, team_id=body.get("team_id", ""), user_id=body.get("user_id", ""),
                        payload=_task_payload(body))
        except SQLAlchemyError:
            logger.exception("could not store /linkedin %s for team %s user %s", name, body.get("team_id"), body.get("user_id"))
            ack(text="Sorry, companycore could not take your command right now. Try again in a minute.")
            return
        ack()
        services.task_runner.kick()


@task_handler(RUN_SUBCOMMAND)
def run_subcommand(services, task: Task) -> None:
    """Run a deferred subcommand; its replies go to the command's response_url."""
    body = task.payload
    name, args = parse(body.get("text", ""))
    respond = webhook_responder(body.get("response_url", ""))
    dispatch(name, _request(services, body, args, respond=respond, client=services.slack.client_for(task.team_id)))


def _task_payload(body: dict) -> dict:
    """Return the fields of a slash command that a deferred subcommand reads, without the token or trigger_id."""
    return {key: body.get(key, "") for key in ("team_id", "user_id", "channel_id", "text", "response_url", "enterprise_id")}


def _request(services, body: dict, args: str, *, respond, client) -> CommandRequest:
    return CommandRequest(
        services=services,
        team_id=body.get("team_id", ""),
        user_id=body.get("user_id", ""),
        channel_id=body.get("channel_id", ""),
        args=args,
        trigger_id=body.get("trigger_id", ""),
        response_url=body.get("response_url", ""),
        respond=respond,
        client=client,
        body=body,
    )


def dispatch(name: str, request: CommandRequest) -> None:
    command = SUBCOMMANDS.get(name)
    if command is None:
        if name in PLANNED:
            request.respond(text=f"`/linkedin {name}` is coming soon. Until then: {help_text()}")
        else:
            request.respond(text=("" if not name else f"There is no `/linkedin {name}`. ") + help_text())
        return
    try:
        command.handler(request)
    except Exception:
        # A failing subcommand must still reply, because the user is waiting for one.
        logger.exception("/linkedin %s failed for team %s user %s", name, request.team_id, request.user_id)
        request.respond(text=f"Sorry, `/linkedin {name}` failed on our side. Try again in a minute.")


@subcommand("connect", "connect", "connect your LinkedIn account")
def connect_command(request: CommandRequest) -> None:
    url = connect.connect_url(request.services, request.team_id, request.user_id)
    request.respond(text=f"Connect your LinkedIn account: {url}", blocks=connect_blocks(url))


@subcommand("disconnect", "disconnect", "disconnect LinkedIn and delete its tokens at once")
def disconnect_command(request: CommandRequest) -> None:
    services = request.services
    result = connect.disconnect(services, request.team_id, request.user_id)
    request.respond(text=connect.disconnect_message(result))
    notify.publish_home(services, request.team_id, request.user_id)
    connect.revoke_quietly(services, result)


@subcommand("status", "status", "show whether LinkedIn is connected, as whom and until when")
def status_command(request: CommandRequest) -> None:
    services = request.services
    timezone = services.slack.user_timezone(request.team_id, request.user_id)
    with services.sessions() as session:
        row = connection_summary(session, request.team_id, request.user_id)
        text = status_text(row, timezone)
    request.respond(text=text)


@subcommand("delete-my-data", "delete-my-data", "delete everything this app stores about you")
def delete_my_data_command(request: CommandRequest) -> None:
    request.respond(text="Delete all your data?", blocks=delete_my_data_blocks())


@subcommand("help", "help", "list the commands")
def help_command(request: CommandRequest) -> None:
    request.respond(text=help_text())
