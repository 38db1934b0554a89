"""The `/linkedin` subcommands: a registry that feature modules add their handlers to.

The slash command listener acknowledges Slack at once, then looks the subcommand up here
and calls its handler with a `CommandRequest`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.context import Services


@dataclass
class CommandRequest:
    services: Services
    team_id: str
    user_id: str
    channel_id: str
    args: str  # the text after the subcommand name
    trigger_id: str
    response_url: str
    respond: Callable[..., Any]  # Bolt's respond(): ephemeral by default
    client: Any  # slack_sdk WebClient for this workspace
    body: dict


@dataclass(frozen=True)
class Subcommand:
    name: str
    usage: str  # without the leading "/linkedin "
    summary: str
    handler: Callable[[CommandRequest], None]
    # Handlers that open a modal run before the acknowledgement returns, because Slack's
    # trigger_id expires 3 seconds after the click. All others run as durable tasks.
    opens_modal: bool = False


SUBCOMMANDS: dict[str, Subcommand] = {}


def subcommand(name: str, usage: str, summary: str, *, opens_modal: bool = False) -> Callable[[Callable[[CommandRequest], None]], Callable[[CommandRequest], None]]:
    def decorate(handler: Callable[[CommandRequest], None]) -> Callable[[CommandRequest], None]:
        SUBCOMMANDS[name] = Subcommand(name, usage, summary, handler, opens_modal)
        return handler

    return decorate
