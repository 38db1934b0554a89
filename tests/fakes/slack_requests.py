"""Build signed Slack requests, shaped as Slack sends them, for the app's ``/slack/events``.

Each builder returns ``(body, content_type)``: form-encoded bytes for slash commands,
JSON inside a ``payload=`` form field for interactivity, and JSON for the Events API.
``sign()`` adds the v0 signature headers. ``SlackRequester`` POSTs to a running app over
HTTP, and ``call_wsgi()`` calls a WSGI callable in-process.

``response_url`` defaults to an empty string, so a listener that calls ``respond()`` fails
instead of reaching hooks.slack.com. Pass ``FakeSlack.new_response_url()`` where the app
is expected to respond.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import itertools
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import requests

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"

API_APP_ID = "A0TEST"
BOT_USER_ID = "UBOT"

_sequence = itertools.count(1)


def sign(secret: str, body: bytes | str, timestamp: int | str | None = None, content_type: str | None = None) -> dict[str, str]:
    """Return the headers Slack sends with ``body``: timestamp, v0 signature and content type.

    The signature is ``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}`` keyed by the
    signing secret. ``content_type`` defaults to JSON for a body starting with ``{`` and to
    form encoding otherwise. Pass an old ``timestamp`` to test replay rejection.
    """
    raw = body.encode() if isinstance(body, str) else body
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + timestamp.encode() + b":" + raw
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    if content_type is None:
        content_type = JSON if raw.lstrip()[:1] == b"{" else FORM
    return {
        "content-type": content_type,
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": signature,
    }


def new_trigger_id() -> str:
    """Return a unique trigger_id in Slack's ``digits.digits.hex`` form."""
    return f"{1_700_000_000 + next(_sequence)}.{1234567890}.{uuid.uuid4().hex}"


def new_ts() -> str:
    """Return a unique message ts in Slack's ``seconds.microseconds`` form."""
    return f"{int(time.time())}.{next(_sequence):06d}"


def _team(team_id: str, enterprise_id: str | None) -> dict[str, Any]:
    team: dict[str, Any] = {"id": team_id, "domain": f"team-{team_id.lower()}"}
    if enterprise_id:
        team.update({"enterprise_id": enterprise_id, "enterprise_name": "Enterprise"})
    return team


def _enterprise(enterprise_id: str | None) -> dict[str, Any] | None:
    return {"id": enterprise_id, "name": "Enterprise"} if enterprise_id else None


def _interactive(payload: dict[str, Any]) -> tuple[bytes, str]:
    return urlencode({"payload": json.dumps(payload)}).encode(), FORM


# ---------------------------------------------------------------------- slash command


def slash_command(
    text: str,
    *,
    user_id: str = "U1",
    user_name: str = "alice",
    team_id: str = "T1",
    team_domain: str = "test-team",
    channel_id: str = "D1",
    channel_name: str = "directmessage",
    command: str = "/linkedin",
    response_url: str = "",
    trigger_id: str | None = None,
    api_app_id: str = API_APP_ID,
    enterprise_id: str | None = None,
) -> tuple[bytes, str]:
    """Build a slash command POST with every field Slack sends (form-encoded)."""
    fields = {
        "token": "deprecated-verification-token",
        "team_id": team_id,
        "team_domain": team_domain,
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or new_trigger_id(),
    }
    if enterprise_id:
        fields.update({"enterprise_id": enterprise_id, "enterprise_name": "Enterprise"})
    return urlencode(fields).encode(), FORM


# ---------------------------------------------------------------------- interactivity


def block_action(
    action_id: str,
    value: str | None = None,
    *,
    user_id: str = "U1",
    team_id: str = "T1",
    block_id: str = "actions",
    action_type: str = "button",
    action_fields: dict[str, Any] | None = None,
    container: str = "message",
    channel_id: str = "D1",
    message_ts: str | None = None,
    thread_ts: str | None = None,
    message_blocks: list[dict[str, Any]] | None = None,
    message_text: str = "",
    view_id: str = "V0VIEW",
    view_type: str = "home",
    view_callback_id: str = "",
    private_metadata: str = "",
    view_blocks: list[dict[str, Any]] | None = None,
    state_values: dict[str, Any] | None = None,
    response_url: str = "",
    trigger_id: str | None = None,
    api_app_id: str = API_APP_ID,
    enterprise_id: str | None = None,
) -> tuple[bytes, str]:
    """Build a ``block_actions`` payload for a click on a message or in a view.

    ``container="message"`` adds ``channel``, ``message`` and ``response_url``.
    ``container="view"`` adds ``view`` (Home tab when ``view_type="home"``, else a modal)
    and no ``response_url``, as Slack does. ``action_fields`` replaces ``value`` for other
    elements, for example ``{"selected_date": "2026-03-01"}`` with
    ``action_type="datepicker"``. ``state_values`` is ``{block_id: {action_id: {...}}}``.
    """
    action: dict[str, Any] = {
        "type": action_type,
        "action_id": action_id,
        "block_id": block_id,
        "action_ts": f"{time.time():.6f}",
    }
    if action_type == "button":
        action["text"] = {"type": "plain_text", "text": action_id, "emoji": True}
    if value is not None:
        action["value"] = value
    action.update(action_fields or {})

    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user_id, "username": f"user-{user_id.lower()}", "name": f"user-{user_id.lower()}", "team_id": team_id},
        "api_app_id": api_app_id,
        "token": "deprecated-verification-token",
        "trigger_id": trigger_id or new_trigger_id(),
        "team": _team(team_id, enterprise_id),
        "enterprise": _enterprise(enterprise_id),
        "is_enterprise_install": False,
        "state": {"values": state_values or {}},
        "actions": [action],
    }

    if container == "message":
        message_ts = message_ts or new_ts()
        payload["container"] = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        }
        if thread_ts:
            payload["container"]["thread_ts"] = thread_ts
        payload["channel"] = {"id": channel_id, "name": "directmessage" if channel_id.startswith("D") else "general"}
        payload["message"] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": "B0BOT",
            "ts": message_ts,
            "text": message_text,
            "blocks": message_blocks or [],
            "team": team_id,
        }
        if thread_ts:
            payload["message"]["thread_ts"] = thread_ts
        payload["response_url"] = response_url
    elif container == "view":
        payload["container"] = {"type": "view", "view_id": view_id}
        payload["view"] = _view_output(
            view_id=view_id,
            view_type=view_type,
            callback_id=view_callback_id,
            private_metadata=private_metadata,
            blocks=view_blocks or [],
            state_values=state_values or {},
            team_id=team_id,
            api_app_id=api_app_id,
        )
    else:
        raise ValueError(f"container must be 'message' or 'view', got {container!r}")
    return _interactive(payload)


def view_submission(
    callback_id: str,
    state_values: dict[str, Any],
    *,
    private_metadata: str = "",
    user_id: str = "U1",
    team_id: str = "T1",
    view_id: str = "V0MODAL",
    blocks: list[dict[str, Any]] | None = None,
    title: str = "Schedule post",
    trigger_id: str | None = None,
    response_urls: list[dict[str, Any]] | None = None,
    api_app_id: str = API_APP_ID,
    enterprise_id: str | None = None,
) -> tuple[bytes, str]:
    """Build a ``view_submission`` payload for a modal with ``callback_id``.

    ``state_values`` is ``{block_id: {action_id: {"type": ..., "value"|"selected_*": ...}}}``
    as in ``view.state.values``.
    """
    payload = {
        "type": "view_submission",
        "team": _team(team_id, enterprise_id),
        "user": {"id": user_id, "username": f"user-{user_id.lower()}", "name": f"user-{user_id.lower()}", "team_id": team_id},
        "api_app_id": api_app_id,
        "token": "deprecated-verification-token",
        "trigger_id": trigger_id or new_trigger_id(),
        "view": _view_output(
            view_id=view_id,
            view_type="modal",
            callback_id=callback_id,
            private_metadata=private_metadata,
            blocks=blocks or [],
            state_values=state_values,
            team_id=team_id,
            api_app_id=api_app_id,
            title=title,
        ),
        "response_urls": response_urls or [],
        "enterprise": _enterprise(enterprise_id),
        "is_enterprise_install": False,
    }
    return _interactive(payload)


def _view_output(
    *,
    view_id: str,
    view_type: str,
    callback_id: str,
    private_metadata: str,
    blocks: list[dict[str, Any]],
    state_values: dict[str, Any],
    team_id: str,
    api_app_id: str,
    title: str = "",
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": view_id,
        "team_id": team_id,
        "type": view_type,
        "blocks": blocks,
        "private_metadata": private_metadata,
        "callback_id": callback_id,
        "state": {"values": state_values},
        "hash": f"{int(time.time())}.{uuid.uuid4().hex[:8]}",
        "clear_on_close": False,
        "notify_on_close": False,
        "root_view_id": view_id,
        "previous_view_id": None,
        "app_id": api_app_id,
        "external_id": "",
        "app_installed_team_id": team_id,
        "bot_id": "B0BOT",
    }
    if view_type == "modal":
        view["title"] = {"type": "plain_text", "text": title, "emoji": True}
        view["submit"] = {"type": "plain_text", "text": "Submit", "emoji": True}
        view["close"] = {"type": "plain_text", "text": "Cancel", "emoji": True}
    return view


def message_shortcut(
    callback_id: str,
    message: dict[str, Any] | None = None,
    *,
    channel_id: str = "C1",
    channel_name: str = "general",
    user_id: str = "U1",
    team_id: str = "T1",
    response_url: str = "",
    trigger_id: str | None = None,
    enterprise_id: str | None = None,
) -> tuple[bytes, str]:
    """Build a ``message_action`` payload (a message shortcut) on ``message``.

    ``message`` defaults to a plain user message with text "Shipped the beta today".
    """
    message = message or {"type": "message", "user": "U2", "ts": new_ts(), "text": "Shipped the beta today"}
    payload = {
        "type": "message_action",
        "token": "deprecated-verification-token",
        "action_ts": f"{time.time():.6f}",
        "team": _team(team_id, enterprise_id),
        "user": {"id": user_id, "name": f"user-{user_id.lower()}", "team_id": team_id},
        "channel": {"id": channel_id, "name": channel_name},
        "is_enterprise_install": False,
        "enterprise": _enterprise(enterprise_id),
        "callback_id": callback_id,
        "trigger_id": trigger_id or new_trigger_id(),
        "response_url": response_url,
        "message_ts": message["ts"],
        "message": message,
    }
    return _interactive(payload)


# ---------------------------------------------------------------------- Events API


def event_callback(
    event: dict[str, Any],
    *,
    team_id: str = "T1",
    event_id: str | None = None,
    event_time: int | None = None,
    api_app_id: str = API_APP_ID,
    bot_user_id: str = BOT_USER_ID,
    enterprise_id: str | None = None,
) -> tuple[bytes, str]:
    """Wrap ``event`` in the Events API envelope (JSON) with one bot authorization."""
    envelope = {
        "token": "deprecated-verification-token",
        "team_id": team_id,
        "context_team_id": team_id,
        "context_enterprise_id": enterprise_id,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev0FAKE{next(_sequence):06d}",
        "event_time": event_time or int(time.time()),
        "authorizations": [
            {
                "enterprise_id": enterprise_id,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-fake-{uuid.uuid4().hex}",
    }
    return json.dumps(envelope).encode(), JSON


def message_im_event(
    user: str,
    text: str,
    *,
    channel: str = "D1",
    ts: str | None = None,
    thread_ts: str | None = None,
    files: list[dict[str, Any]] | None = None,
    team_id: str = "T1",
) -> dict[str, Any]:
    """Build a ``message`` event from a user in the app's DM (``channel_type: im``).

    ``files`` (file objects, for example from ``FakeSlack.file_object``) turn it into a
    ``file_share`` message. ``thread_ts`` makes it a reply in that thread.
    """
    ts = ts or new_ts()
    event: dict[str, Any] = {
        "type": "message",
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "channel": channel,
        "channel_type": "im",
        "team": team_id,
        "client_msg_id": str(uuid.uuid4()),
        "blocks": [
            {
                "type": "rich_text",
                "block_id": uuid.uuid4().hex[:5],
                "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}],
            }
        ],
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
        event["parent_user_id"] = BOT_USER_ID
    if files:
        event.update({"subtype": "file_share", "files": files, "upload": False, "display_as_bot": False})
    return event


def message_im(user: str, text: str, **options: Any) -> tuple[bytes, str]:
    """Build a signed-ready ``message.im`` event request. Options as ``message_im_event``."""
    team_id = options.get("team_id", "T1")
    return event_callback(message_im_event(user, text, **options), team_id=team_id)


def app_home_opened(user: str, *, channel: str = "D1", tab: str = "home", view: dict[str, Any] | None = None, team_id: str = "T1") -> tuple[bytes, str]:
    """Build an ``app_home_opened`` event. ``view`` is present only after a first publish."""
    event: dict[str, Any] = {"type": "app_home_opened", "user": user, "channel": channel, "tab": tab, "event_ts": f"{time.time():.6f}"}
    if view is not None:
        event["view"] = view
    return event_callback(event, team_id=team_id)


def app_uninstalled(*, team_id: str = "T1") -> tuple[bytes, str]:
    return event_callback({"type": "app_uninstalled", "event_ts": f"{time.time():.6f}"}, team_id=team_id)


def tokens_revoked(*, bot_user_ids: list[str] | None = None, user_ids: list[str] | None = None, team_id: str = "T1") -> tuple[bytes, str]:
    """Build a ``tokens_revoked`` event: ``tokens.bot`` lists bot user ids, ``tokens.oauth`` user ids."""
    event = {
        "type": "tokens_revoked",
        "tokens": {"oauth": user_ids or [], "bot": bot_user_ids if bot_user_ids is not None else [BOT_USER_ID]},
        "event_ts": f"{time.time():.6f}",
    }
    return event_callback(event, team_id=team_id)


def assistant_thread_started(user: str, *, channel: str = "D1", thread_ts: str | None = None, team_id: str = "T1") -> tuple[bytes, str]:
    """Build an ``assistant_thread_started`` event for the AI assistant side panel."""
    event = {
        "type": "assistant_thread_started",
        "assistant_thread": {
            "user_id": user,
            "context": {"channel_id": channel, "team_id": team_id, "enterprise_id": None},
            "channel_id": channel,
            "thread_ts": thread_ts or new_ts(),
        },
        "event_ts": f"{time.time():.6f}",
    }
    return event_callback(event, team_id=team_id)


# ---------------------------------------------------------------------- delivery


class SlackRequester:
    """POST signed requests to a running app's ``/slack/events`` over HTTP.

    ``base_url`` is the app's root (``http://127.0.0.1:PORT``). Only loopback apps started
    by the test should be targeted.
    """

    def __init__(self, base_url: str, signing_secret: str, path: str = "/slack/events", timeout: float = 10):
        self.url = base_url.rstrip("/") + path
        self.signing_secret = signing_secret
        self.timeout = timeout

    def post(
        self,
        request: tuple[bytes, str],
        *,
        timestamp: int | str | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """Sign and POST ``request`` (a builder's ``(body, content_type)``).

        ``signature`` replaces the computed one to test rejection. ``headers`` adds or
        overrides headers, for example ``{"x-slack-retry-num": "1"}``.
        """
        body, content_type = request
        signed = sign(self.signing_secret, body, timestamp, content_type)
        if signature is not None:
            signed["x-slack-signature"] = signature
        signed.update(headers or {})
        return requests.post(self.url, data=body, headers=signed, timeout=self.timeout)


def call_wsgi(
    app: Any,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    query_string: str = "",
) -> tuple[str, list[tuple[str, str]], bytes]:
    """Call a WSGI callable in-process. Returns ``(status, headers, body)``.

    ``status`` is the WSGI status line such as ``"200 OK"``. Header names map to CGI
    variables (``x-slack-signature`` → ``HTTP_X_SLACK_SIGNATURE``).
    """
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method.upper(),
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query_string,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[key] = value
        else:
            environ[f"HTTP_{key}"] = value

    started: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started["status"] = status
        started["headers"] = response_headers
        return lambda data: None

    chunks = app(environ, start_response)
    try:
        payload = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close:
            close()
    return started["status"], started["headers"], payload


def call_wsgi_signed(app: Any, signing_secret: str, request: tuple[bytes, str], path: str = "/slack/events") -> tuple[str, list[tuple[str, str]], bytes]:
    """Sign ``request`` and POST it to the WSGI callable ``app`` in-process."""
    body, content_type = request
    return call_wsgi(app, "POST", path, body, sign(signing_secret, body, content_type=content_type))
