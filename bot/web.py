"""The WSGI application: Slack's requests go to Bolt, the LinkedIn and public pages to us.

Routes:
- POST /slack/events: Bolt (slash commands, interactivity, events). Bolt checks the
  signature and returns 401 to an unsigned, wrongly signed or stale request.
- GET /slack/install and /slack/oauth_redirect: Slack's install flow, multi-workspace only.
- GET /linkedin/connect and /linkedin/callback: the LinkedIn OAuth round trip.
- GET /linkedin-integration: the public transparency page.
- GET /healthz: 200 when the database answers, else 503.
Anything else is 404; a known path with another method is 405.

This module must never log a query string, because LinkedIn's callback carries a code.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from urllib.parse import parse_qsl

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from bot import connect, transparency
from bot.views.connection import WebResponse

logger = logging.getLogger(__name__)

SLACK_EVENTS_PATH = "/slack/events"
SLACK_OAUTH_PATHS = ("/slack/install", "/slack/oauth_redirect")


def _status_line(code: int) -> str:
    return f"{code} {HTTPStatus(code).phrase}"


def _query(environ) -> dict[str, str]:
    return dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))


def create_wsgi_app(services, bolt_app: App):
    """Return the WSGI callable that serves every route of the product."""
    slack_handler = SlackRequestHandler(bolt_app, path=SLACK_EVENTS_PATH)
    multi_workspace = bolt_app.oauth_flow is not None

    def get_routes(environ) -> WebResponse | None:
        path = environ.get("PATH_INFO", "")
        if path == "/linkedin/connect":
            return connect.start_authorization(services, _query(environ))
        if path == "/linkedin/callback":
            return connect.finish_authorization(services, _query(environ), environ.get("HTTP_COOKIE", ""))
        if path == "/linkedin-integration":
            return transparency.transparency_page(services.settings)
        if path == "/healthz":
            return health(services)
        return None

    def application(environ, start_response):
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET").upper()

        if path == SLACK_EVENTS_PATH:
            if method != "POST":
                return _plain(start_response, 405, "Method Not Allowed", [("Allow", "POST")])
            return slack_handler(environ, start_response)
        if path in SLACK_OAUTH_PATHS:
            if not multi_workspace:
                return _plain(start_response, 404, "Not Found")
            if method != "GET":
                return _plain(start_response, 405, "Method Not Allowed", [("Allow", "GET")])
            return slack_handler(environ, start_response)

        if method not in ("GET", "HEAD"):
            known = get_route_known(path)
            return _plain(start_response, 405 if known else 404, "Method Not Allowed" if known else "Not Found")
        response = get_routes(environ)
        if response is None:
            return _plain(start_response, 404, "Not Found")
        start_response(_status_line(response.status), response.headers)
        return [b"" if method == "HEAD" else response.body]

    return application


def get_route_known(path: str) -> bool:
    return path in ("/linkedin/connect", "/linkedin/callback", "/linkedin-integration", "/healthz")


def _plain(start_response, status: int, message: str, headers: list[tuple[str, str]] | None = None):
    start_response(_status_line(status), [("Content-Type", "text/plain; charset=utf-8"), *(headers or [])])
    return [message.encode()]


def health(services) -> WebResponse:
    try:
        with services.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        logger.error("health check failed: the database did not respond: %s", type(error).__name__)
        return WebResponse(503, [("Content-Type", "text/plain; charset=utf-8")], b"database unavailable")
    return WebResponse(200, [("Content-Type", "text/plain; charset=utf-8")], b"ok")
