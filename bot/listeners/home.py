"""The App Home tab: publish it whenever the user opens it."""

from __future__ import annotations

from bot import notify
from bot.views.home import OPEN_POST_ACTION


def register(app, services) -> None:
    @app.event("app_home_opened")
    def publish_on_open(event, body, context):
        if event.get("tab") != "home":
            return
        team_id = context.team_id or body.get("team_id", "")
        notify.publish_home(services, team_id, event.get("user", ""))

    @app.action(OPEN_POST_ACTION)
    def ack_open_post(ack):
        # The "View on LinkedIn" url button only opens a browser; Slack still wants an ack.
        ack()
