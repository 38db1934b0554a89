"""The baseline of bench/ack_latency.py: a Bolt app that only acknowledges Slack's requests.

Serve it with gunicorn as the product is served: `gunicorn bench.minimal_app:application`.
It reads SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET and SLACK_API_URL from the environment and
acknowledges `/linkedin` and the draft card's Approve buttons with an empty 200, doing
nothing else. It checks signatures like the product, so both apps do the same Bolt work
before the listener.
"""

from __future__ import annotations

import os

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

from bot.views.draft_card import APPROVE_NOW, APPROVE_SCHEDULE


def build_app() -> App:
    client = WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"])
    app = App(client=client, signing_secret=os.environ["SLACK_SIGNING_SECRET"])

    @app.command("/linkedin")
    def command(ack) -> None:
        ack()

    for action_id in (APPROVE_SCHEDULE, APPROVE_NOW):
        app.action(action_id)(lambda ack: ack())

    return app


handler = SlackRequestHandler(build_app())


def application(environ, start_response):
    return handler(environ, start_response)
