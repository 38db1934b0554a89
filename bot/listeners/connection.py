"""Buttons of the LinkedIn connection: connect link, Home connect/disconnect, delete my data.

Connect opens its modal at once (its trigger_id expires after 3 seconds); Disconnect and
delete-my-data are stored as durable tasks before the acknowledgement. Disconnecting
revokes the token at LinkedIn only after the row is deleted and the user has a reply. The
token stays in memory and never goes into a task.
"""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError

from bot import connect, notify
from bot.listeners.deferred import durable_action, durable_work
from bot.views.connection import (
    CONNECT_LINK_ACTION,
    DELETE_MY_DATA_ACTION,
    connect_modal,
    erased_message,
)
from bot.views.home import CONNECT_ACTION, DISCONNECT_ACTION, erased_view

logger = logging.getLogger(__name__)


def _ids(body: dict) -> tuple[str, str]:
    user = body.get("user") or {}
    team = (body.get("team") or {}).get("id") or user.get("team_id", "")
    return team, user.get("id", "")


def register(app, services) -> None:
    @app.action(CONNECT_LINK_ACTION)
    def ack_connect_link(ack):
        # A url button still sends an action, which must be acknowledged.
        ack()

    @app.action(CONNECT_ACTION)
    def open_connect_modal(ack, body, client):
        ack()
        team_id, user_id = _ids(body)
        url = connect.connect_url(services, team_id, user_id)
        try:
            client.views_open(trigger_id=body["trigger_id"], view=connect_modal(url))
        except SlackApiError as error:
            logger.warning("opening the connect modal failed for team %s user %s: %s", team_id, user_id, error.response.get("error"))
            notify.dm(services, team_id, user_id, f"Connect your LinkedIn account: {url}")

    # Stored before the acknowledgement and run as tasks; the token never goes into one.
    for action_id in DURABLE_CLICKS:
        durable_action(app, services, action_id)


def _disconnect_from_home(services, body: dict, _respond) -> None:
    team_id, user_id = _ids(body)
    result = connect.disconnect(services, team_id, user_id)
    notify.publish_home(services, team_id, user_id)
    notify.dm(services, team_id, user_id, connect.disconnect_message(result))
    connect.revoke_quietly(services, result)


def _delete_my_data(services, body: dict, respond) -> None:
    team_id, user_id = _ids(body)
    counts, tokens = connect.delete_my_data(services, team_id, user_id)
    respond(text=erased_message(counts), replace_original=True)
    # The regular Home would cache the user's time zone again, so a fixed view is shown.
    notify.publish_view(services, team_id, user_id, erased_view())
    connect.revoke_quietly(services, tokens)


DURABLE_CLICKS = durable_work({DISCONNECT_ACTION: _disconnect_from_home, DELETE_MY_DATA_ACTION: _delete_my_data})
