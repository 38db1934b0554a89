"""Fake Slack Web API served over real HTTP on 127.0.0.1 for tests.

The app under test reaches it the way it reaches Slack:

1. Web API calls: ``WebClient(base_url=fake.base_url)`` POSTs (or GETs) ``/api/{method}``
   with a form or JSON body and the token in ``Authorization: Bearer``.
2. ``response_url`` posts: Bolt's ``respond()`` POSTs JSON to the URL in the payload, so
   tests put ``fake.new_response_url()`` into the signed request.
3. File downloads: ``url_private_download`` points at ``/files/...`` on this server and,
   like Slack, serves the bytes only with a valid bot token.

Tests inspect what happened through Python attributes (``calls``, ``messages()``,
``home_view()``) or, when the fake runs as its own process
(``python -m tests.fakes.slack_server --port N``), through JSON endpoints under ``/_fake/``.

The fake listens only on 127.0.0.1 and sends no request to slack.com.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit
from zoneinfo import ZoneInfo

logger = logging.getLogger(__name__)

DEFAULT_BOT_TOKEN = "xoxb-test-token"
DEFAULT_TZ = "America/New_York"

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_VIEW_JSON_BYTES = 250_000
MAX_MESSAGE_TEXT = 40_000
MAX_RESPONSE_URL_USES = 5

# Form-encoded requests carry these arguments as JSON strings. JSON bodies carry them as
# objects. The fake decodes both so that recorded params look the same either way.
JSON_ARGUMENTS = ("blocks", "attachments", "view", "prompts", "metadata", "users")

# Long names of a few zones, as users.info returns them in tz_label.
TZ_LABELS = {
    "America/New_York": ("Eastern Standard Time", "Eastern Daylight Time"),
    "America/Chicago": ("Central Standard Time", "Central Daylight Time"),
    "America/Denver": ("Mountain Standard Time", "Mountain Daylight Time"),
    "America/Los_Angeles": ("Pacific Standard Time", "Pacific Daylight Time"),
    "Europe/London": ("Greenwich Mean Time", "British Summer Time"),
    "Europe/Berlin": ("Central European Time", "Central European Summer Time"),
    "Europe/Paris": ("Central European Time", "Central European Summer Time"),
    "Asia/Tokyo": ("Japan Standard Time", "Japan Standard Time"),
    "Asia/Kolkata": ("India Standard Time", "India Standard Time"),
    "UTC": ("Coordinated Universal Time", "Coordinated Universal Time"),
}


class SlackApiError(Exception):
    """An ``ok: false`` response, with the error code Slack uses for the case."""

    def __init__(self, error: str, messages: list[str] | None = None, **extra: Any):
        super().__init__(error)
        self.error = error
        self.messages = messages or []
        self.extra = extra


@dataclass
class Workspace:
    """The identity behind one bot token, as auth.test returns it."""

    team_id: str
    team: str = "Test Team"
    domain: str = "test-team"
    bot_user_id: str = "UBOT"
    bot_id: str = "B0BOT"
    app_id: str = "A0TEST"
    enterprise_id: str | None = None


@dataclass
class StoredFile:
    file_id: str
    name: str
    data: bytes
    mimetype: str
    user_id: str
    created: int = field(default_factory=lambda: int(time.time()))


class FakeSlack:
    """Fake Slack Web API, ``response_url`` target and file host on one loopback port.

    ``bot_tokens`` are accepted for ``workspace`` (team ``T1`` unless given).
    ``users`` maps user ids to users.info overrides, for example
    ``{"U1": {"tz": "Europe/Berlin", "locale": "de-DE"}}``. Unknown user ids get a default
    user in ``America/New_York``. ``oauth.v2.access`` checks ``client_id`` and
    ``client_secret`` and exchanges codes added with ``add_oauth_code``.
    """

    def __init__(
        self,
        port: int = 0,
        bot_tokens: Any = (DEFAULT_BOT_TOKEN,),
        *,
        workspace: Workspace | None = None,
        users: dict[str, dict[str, Any]] | None = None,
        client_id: str = "1111.2222",
        client_secret: str = "fake-client-secret",
    ):
        self._requested_port = port
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._counter = itertools.count(1)

        self.workspace = workspace or Workspace(team_id="T1")
        self.client_id = client_id
        self.client_secret = client_secret

        self._tokens: dict[str, Workspace] = {token: self.workspace for token in bot_tokens}
        self._revoked_tokens: set[str] = set()
        self._users: dict[str, dict[str, Any]] = dict(users or {})
        self._oauth_codes: dict[str, tuple[Workspace, str]] = {}
        self._installations: list[dict[str, Any]] = []

        self._calls: list[tuple[str, dict[str, Any]]] = []
        self._rate_limits: dict[str, list[int]] = {}
        self._failures: dict[str, list[str]] = {}

        self._ts_counter = itertools.count(100, 100)
        self._messages: dict[tuple[str, str], dict[str, Any]] = {}
        self._message_history: list[dict[str, Any]] = []
        self._ephemerals: list[dict[str, Any]] = []

        self._views: dict[str, dict[str, Any]] = {}
        self._home_views: dict[str, str] = {}
        self._used_trigger_ids: set[str] = set()
        self._expired_trigger_ids: set[str] = set()

        self._files: dict[str, StoredFile] = {}
        self._downloads: list[dict[str, Any]] = []

        self._response_urls: set[str] = set()
        self._responses: list[tuple[str, dict[str, Any]]] = []

        self._methods: dict[str, Callable[[dict[str, Any], Workspace], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.delete": self._chat_delete,
            "conversations.open": self._conversations_open,
            "users.info": self._users_info,
            "views.publish": self._views_publish,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.push": self._views_push,
            "assistant.threads.setStatus": self._assistant_set_status,
            "assistant.threads.setTitle": self._assistant_set_title,
            "assistant.threads.setSuggestedPrompts": self._assistant_set_suggested_prompts,
            "files.info": self._files_info,
        }

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeSlack:
        """Bind 127.0.0.1 and serve on a daemon thread. Returns self."""
        server = ThreadingHTTPServer(("127.0.0.1", self._requested_port), _Handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server

        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"fake-slack-{self.port}", daemon=True
        )
        self._thread.start()
        logger.info("Fake Slack started at %s", self.root_url)
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server = None
        logger.info("Fake Slack stopped")

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeSlack is not started: call start() or use it as a context manager")
        return self._server.server_address[1]

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT/``, the base of every URL the fake hands out."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def base_url(self) -> str:
        """Web API base URL for ``WebClient(base_url=...)`` and ``SLACK_API_URL``."""
        return f"{self.root_url}api/"

    # ------------------------------------------------------------------ test setup

    def add_token(self, token: str, workspace: Workspace | None = None) -> None:
        """Accept ``token`` as a bot token of ``workspace`` (the default one if None)."""
        with self._lock:
            self._tokens[token] = workspace or self.workspace
            self._revoked_tokens.discard(token)

    def revoke_token(self, token: str) -> None:
        """Make later calls with ``token`` fail with ``token_revoked``, as after an uninstall."""
        with self._lock:
            self._tokens.pop(token, None)
            self._revoked_tokens.add(token)

    def add_user(self, user_id: str, **fields: Any) -> None:
        """Set users.info fields (``tz``, ``tz_label``, ``tz_offset``, ``locale``, ``name``…)."""
        with self._lock:
            self._users.setdefault(user_id, {}).update(fields)

    def add_oauth_code(
        self,
        code: str,
        team_id: str = "T2",
        team: str = "Second Team",
        *,
        installer_user_id: str = "U1",
        enterprise_id: str | None = None,
    ) -> None:
        """Make ``oauth.v2.access`` accept ``code`` once and install into ``team_id``."""
        number = next(self._counter)
        workspace = Workspace(
            team_id=team_id,
            team=team,
            domain=team.lower().replace(" ", "-"),
            bot_user_id=f"UBOT{number}",
            bot_id=f"B0BOT{number}",
            app_id=self.workspace.app_id,
            enterprise_id=enterprise_id,
        )
        with self._lock:
            self._oauth_codes[code] = (workspace, installer_user_id)

    def add_file(
        self,
        file_id: str,
        name: str,
        data: bytes,
        mimetype: str = "application/octet-stream",
        *,
        user_id: str = "U1",
    ) -> dict[str, Any]:
        """Host ``data`` for download and files.info. Returns the Slack file object."""
        with self._lock:
            self._files[file_id] = StoredFile(file_id, name, data, mimetype, user_id)
        return self.file_object(file_id)

    def file_object(self, file_id: str) -> dict[str, Any]:
        """Build the file object that files.info and ``message`` events carry."""
        with self._lock:
            stored = self._files[file_id]
        url_private = f"{self.root_url}files/{file_id}/{quote(stored.name)}"
        extension = stored.name.rsplit(".", 1)[-1].lower() if "." in stored.name else "binary"
        return {
            "id": stored.file_id,
            "created": stored.created,
            "timestamp": stored.created,
            "name": stored.name,
            "title": stored.name,
            "mimetype": stored.mimetype,
            "filetype": extension,
            "pretty_type": extension.upper(),
            "user": stored.user_id,
            "user_team": self.workspace.team_id,
            "mode": "hosted",
            "editable": False,
            "is_external": False,
            "external_type": "",
            "is_public": False,
            "public_url_shared": False,
            "size": len(stored.data),
            "url_private": url_private,
            "url_private_download": f"{self.root_url}files/{file_id}/download/{quote(stored.name)}",
            "permalink": f"https://{self.workspace.domain}.slack.com/files/{stored.user_id}/{file_id}/{quote(stored.name)}",
        }

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """Reject the next ``times`` calls of ``method`` with HTTP 429 and ``Retry-After``."""
        with self._lock:
            self._rate_limits.setdefault(method, []).extend([retry_after] * times)

    def fail(self, method: str, error: str, times: int = 1) -> None:
        """Fail the next ``times`` calls of ``method`` with ``ok: false`` and ``error``."""
        with self._lock:
            self._failures.setdefault(method, []).extend([error] * times)

    def expire_trigger_id(self, trigger_id: str) -> None:
        """Make views.open/views.push reject ``trigger_id`` with ``expired_trigger_id``."""
        with self._lock:
            self._expired_trigger_ids.add(trigger_id)

    def new_response_url(self) -> str:
        """Return a fresh ``response_url`` on this server for a signed request."""
        url = f"{self.root_url}response/{next(self._counter)}"
        with self._lock:
            self._response_urls.add(url)
        return url

    def clear_calls(self) -> None:
        """Forget recorded calls and ``response_url`` posts, keeping messages and views."""
        with self._lock:
            self._calls.clear()
            self._responses.clear()

    # ------------------------------------------------------------------ inspection

    @property
    def calls(self) -> list[tuple[str, dict[str, Any]]]:
        """Snapshot of every Web API call as ``(method, params)``, oldest first.

        ``params`` merges the query string and the body, with JSON arguments such as
        ``blocks`` and ``view`` decoded. The token used, from the header or the form, is
        under ``params["token"]``. Calls answered with 429 or an error are included.
        """
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == method]

    def wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
    ) -> list[dict[str, Any]]:
        """Poll until ``count`` calls of ``method`` (matching ``predicate``) arrived.

        Returns the matching params. Raises AssertionError naming the calls seen on timeout,
        because Bolt runs listeners on threads after the HTTP response.
        """
        deadline = time.monotonic() + timeout
        while True:
            matching = [p for p in self.calls_to(method) if predicate is None or predicate(p)]
            if len(matching) >= count:
                return matching
            if time.monotonic() >= deadline:
                seen = [name for name, _ in self.calls]
                raise AssertionError(
                    f"timed out after {timeout} s waiting for {count} call(s) to {method}: "
                    f"{len(matching)} matched. Calls seen: {seen}"
                )
            time.sleep(0.02)

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        """The latest Home tab view published for ``user_id``, or None."""
        with self._lock:
            view_id = self._home_views.get(user_id)
            return json.loads(json.dumps(self._views[view_id])) if view_id else None

    def view(self, view_id: str) -> dict[str, Any] | None:
        with self._lock:
            stored = self._views.get(view_id)
            return json.loads(json.dumps(stored)) if stored else None

    @property
    def views(self) -> list[dict[str, Any]]:
        """Every view opened, pushed, updated or published, latest state each."""
        with self._lock:
            return json.loads(json.dumps(list(self._views.values())))

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        """chat.postMessage, chat.update and chat.delete history, oldest first.

        Each entry has ``method``, ``channel`` (the D… id for DMs sent to a user id), ``ts``,
        ``text``, ``blocks``, ``thread_ts`` and ``metadata``.
        """
        with self._lock:
            history = [m for m in self._message_history if channel in (None, m["channel"])]
            return json.loads(json.dumps(history))

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """Current state of one message after updates, or None if absent or deleted."""
        with self._lock:
            stored = self._messages.get((self._resolve_channel(channel), ts))
            return json.loads(json.dumps(stored)) if stored else None

    def ephemerals(self, channel: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(m) for m in self._ephemerals if channel in (None, m["channel"])]

    def responses(self, url: str | None = None) -> list[dict[str, Any]]:
        """JSON bodies posted to ``response_url``s, oldest first, optionally for one URL."""
        with self._lock:
            return [dict(body) for posted_url, body in self._responses if url in (None, posted_url)]

    @property
    def downloads(self) -> list[dict[str, Any]]:
        """File download attempts: ``file_id`` and whether a valid bot token came with it."""
        with self._lock:
            return list(self._downloads)

    @property
    def installations(self) -> list[dict[str, Any]]:
        """Every successful ``oauth.v2.access`` response, in order."""
        with self._lock:
            return json.loads(json.dumps(self._installations))

    @property
    def issued_tokens(self) -> set[str]:
        """Every token the fake accepts or ever issued, for scanning logs and databases."""
        with self._lock:
            return set(self._tokens) | self._revoked_tokens

    def dm_channel_id(self, user_id: str) -> str:
        """The D… channel id of the DM with ``user_id``, the same on every call."""
        return "D" + user_id[1:] if user_id[:1] in ("U", "W") else user_id

    # ------------------------------------------------------------------ HTTP entry points

    def _handle_api(self, method: str, params: dict[str, Any], auth_header: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        token = self._token_from(auth_header, params)
        recorded = dict(params)
        if token:
            recorded["token"] = token
        with self._lock:
            self._calls.append((method, recorded))
            retry_after = self._pop_injected(self._rate_limits, method)
            injected_error = self._pop_injected(self._failures, method) if retry_after is None else None

        if retry_after is not None:
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)}
        if injected_error is not None:
            return 200, {"ok": False, "error": injected_error}, {}

        try:
            if method == "oauth.v2.access":
                return 200, {"ok": True, **self._oauth_v2_access(params, auth_header)}, {}
            workspace = self._authenticate(token)
            handler = self._methods.get(method)
            body = handler(params, workspace) if handler else {}
        except SlackApiError as error:
            answer: dict[str, Any] = {"ok": False, "error": error.error, **error.extra}
            if error.messages:
                answer["response_metadata"] = {"messages": error.messages}
            return 200, answer, {}
        return 200, {"ok": True, **body}, {}

    def _handle_response_url(self, url: str, body: dict[str, Any]) -> tuple[int, str]:
        with self._lock:
            if url not in self._response_urls:
                return 404, "invalid_response_url"
            uses = sum(1 for posted_url, _ in self._responses if posted_url == url)
            self._responses.append((url, body))

        # NOTE: Slack allows 5 posts per response_url in 30 minutes. The error code and
        # status returned here for a 6th post are a guess, and the 30 minutes are not enforced.
        if uses >= MAX_RESPONSE_URL_USES:
            return 404, "used_url"
        has_content = body.get("text") or body.get("blocks") or body.get("delete_original")
        if not has_content:
            return 400, "no_text"
        return 200, "ok"

    def _handle_download(self, path: str, auth_header: str) -> tuple[int, bytes, str]:
        parts = path.split("/")
        file_id = parts[2] if len(parts) > 3 else ""
        token = auth_header[len("Bearer ") :] if auth_header.startswith("Bearer ") else ""
        with self._lock:
            stored = self._files.get(file_id)
            authorized = token in self._tokens
            self._downloads.append({"file_id": file_id, "authorized": authorized})
        if stored is None:
            return 404, b"file not found", "text/plain"

        # Slack serves its sign-in page for a download without a valid token, not an
        # error status, so a client that skips the token stores HTML instead of the file.
        if not authorized:
            return 200, b"<!DOCTYPE html><html><body>Sign in to Slack</body></html>", "text/html; charset=utf-8"
        return 200, stored.data, stored.mimetype

    # ------------------------------------------------------------------ auth helpers

    @staticmethod
    def _token_from(auth_header: str, params: dict[str, Any]) -> str | None:
        if auth_header.startswith("Bearer "):
            return auth_header[len("Bearer ") :].strip()
        token = params.pop("token", None)
        return str(token) if token else None

    def _authenticate(self, token: str | None) -> Workspace:
        if not token:
            raise SlackApiError("not_authed")
        with self._lock:
            if token in self._revoked_tokens:
                raise SlackApiError("token_revoked")
            workspace = self._tokens.get(token)
        if workspace is None:
            raise SlackApiError("invalid_auth")
        return workspace

    @staticmethod
    def _pop_injected(queue: dict[str, list[Any]], method: str) -> Any:
        pending = queue.get(method)
        return pending.pop(0) if pending else None

    def _resolve_channel(self, channel: str) -> str:
        return self.dm_channel_id(channel)

    def _next_ts(self) -> str:
        tick = next(self._ts_counter)
        return f"{1_700_000_000 + tick // 1_000_000}.{tick % 1_000_000:06d}"

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}0FAKE{next(self._counter):05d}"

    # ------------------------------------------------------------------ Web API methods

    def _auth_test(self, params: dict[str, Any], workspace: Workspace) -> dict[str, Any]:
        return {
            "url": f"https://{workspace.domain}.slack.com/",
            "team": workspace.team,
            "user": "companycore",
            "team_id": workspace.team_id,
            "user_id": workspace.bot_user_id,
            "bot_id": workspace.bot_id,
            "enterprise_id": workspace.enterprise_id,
            "is_enterprise_install": False,
        }

    def _oauth_v2_access(self, params: dict[str, Any], auth_header: str) -> dict[str, Any]:
        client_id, client_secret = params.get("client_id"), params.get("client_secret")
        if auth_header.startswith("Basic "):
            decoded = base64.b64decode(auth_header[len("Basic ") :]).decode()
            client_id, _, client_secret = decoded.partition(":")

        if client_id != self.client_id:
            raise SlackApiError("invalid_client_id")
        if client_secret != self.client_secret:
            raise SlackApiError("bad_client_secret")
        code = params.get("code")
        with self._lock:
            grant = self._oauth_codes.pop(code, None) if code else None
        if grant is None:
            raise SlackApiError("invalid_code")
        workspace, installer = grant

        bot_token = f"xoxb-{workspace.team_id}-{next(self._counter)}-fakeissuedtoken"
        self.add_token(bot_token, workspace)
        enterprise = {"id": workspace.enterprise_id, "name": "Enterprise"} if workspace.enterprise_id else None
        installation = {
            "app_id": workspace.app_id,
            "authed_user": {"id": installer},
            "scope": "commands,chat:write,im:history,im:write,users:read,files:read",
            "token_type": "bot",
            "access_token": bot_token,
            "bot_user_id": workspace.bot_user_id,
            "team": {"id": workspace.team_id, "name": workspace.team},
            "enterprise": enterprise,
            "is_enterprise_install": False,
        }
        with self._lock:
            self._installations.append(installation)
        return dict(installation)

    def _chat_post_message(self, params: dict[str, Any], workspace: Workspace) -> dict[str, Any]:
        channel = self._require_channel(params)
        text, blocks = self._message_content(params)
        ts = self._next_ts()
        message = {
            "type": "message",
            "user": workspace.bot_user_id,
            "bot_id": workspace.bot_id,
            "team": workspace.team_id,
            "ts": ts,
            "text": text,
            "blocks": blocks,
            "thread_ts": params.get("thread_ts"),
            "metadata": params.get("metadata"),
        }
        with self._lock:
            self._messages[(channel, ts)] = {"channel": channel, **message}
            self._message_history.append({"method": "chat.postMessage", "channel": channel, **message})
        return {"channel": channel, "ts": ts, "message": message}

    def _chat_update(self, params: dict[str, Any], workspace: Workspace) -> dict[str, Any]:
        channel = self._require_channel(params)
        ts = str(params.get("ts") or "")
        text, blocks = self._message_content(params)
        with self._lock:
            stored = self._messages.get((channel, ts))
            if stored is None:
                raise SlackApiError("message_not_found")
            stored.update({"text": text, "blocks": blocks})
            if "metadata" in params:
                stored["metadata"] = params["metadata"]
            self._message_history.append({**stored, "method": "chat.update"})
        return {"channel": channel, "ts": ts, "text": text, "message": dict(stored)}

    def _chat_post_ephemeral(self, params: dict[str, Any], workspace: Workspace) -> dict[str, Any]:
        channel = self._require_channel(params)
        if not params.get("user"):
            raise SlackApiError("user_not_in_channel")
        text, blocks = self._message_content(params)
        message_ts = self._next_ts()
        with self._lock:
            self._ephemerals.append(
                {"channel": channel, "user": params["user"], "ts": message_ts, "text": text, "blocks": blocks}
            )
        return {"message_ts": message_ts}

    def _chat_delete(self, params: dict[str, Any], workspace: Workspace) -> dict[str, Any]:
        channel = self._require_channel(params)
        ts = str(params.get("ts") or "")
        with self._lock:
            stored = self._messages.pop((channel, ts), None)
            if stored is None:
                raise SlackApiError("message_not_found")
            self._message_history.append({**stored, "method": "chat.delete"})
        return {"channel": channel, "ts": ts}

    def _conversations_open(self, params: dict[str, Any], workspace: Workspace) -> dict[str, Any]:
        users = params.get("users")
        if isinstance(users, list):
            users = ",".join(users)
        if not users and not params.get("channel"):
            raise SlackApiError("users_list_not_supplied")
        user_ids = [u for u in str(users or "").split(",") if u]
        channel_id = self.dm_channel_id(user_ids[0]) if len(user_ids) == 1 else str(params.get("channel") or "")
        if len(user_ids) > 1:
            # NOTE: group DMs (several users) get one made-up G… id without membership checks.
            channel_id = "G" + "".join(sorted(u[1:] for u in user_ids))[:10]
        return {"no_op": False, "already_open": False, "channel": {"id": channel_id}}

    def _users_info(self, params: dict[str, Any], workspace: Workspace) -> dict[str, Any]:
        user_id = str(params.get("user") or "")
        if not user_id:
            raise SlackApiError("user_not_found")
        with self._lock:
            overrides = dict(self._users.get(user_id, {}))
        user = self._default_user(user_id, workspace, overrides.get("tz", DEFAULT_TZ))
        user.update(overrides)

        # Slack sends locale only when the caller sets include_locale.
        if str(params.get("include_locale", "")).lower() not in ("1", "true"):
            user.pop("locale", None)
        return {"user": user}

    @staticmethod
    def _default_user(user_id: str, workspace: Workspace, tz: str) -> dict[str, Any]:
        now = datetime.now(ZoneInfo(tz))
        offset = now.utcoffset()
        is_dst = bool(now.dst())
        standard_label, daylight_label = TZ_LABELS.get(tz, (now.tzname(), now.tzname()))
        name = f"user-{user_id.lower()}"
        return {
            "id": user_id,
            "team_id": workspace.team_id,
            "name": name,
            "deleted": False,
            "real_name": f"User {user_id}",
            "tz": tz,
            "tz_label": daylight_label if is_dst else standard_label,
            "tz_offset": int(offset.total_seconds()) if offset else 0,
            "locale": "en-US",
            "is_admin": False,
            "is_owner": False,
            "is_bot": False,
            "is_app_user": False,
            "updated": 1_700_000_000,
            "profile": {
                "real_name": f"User {user_id}",
                "display_name": name,
                "email": f"{name}@example.com",
                "team": workspace.team_id,
            },
        }

    def _views_publish(self, params: dict[str, Any], workspace: Workspace) -> dict[str, Any]:
        user_id = params.get("user_id")
        view = params.get("view")
        if not user_id or not isinstance(view, dict):
            raise SlackApiError("invalid_arguments", ["user_id and view are required"])
        if view.get("type") != "home":
            raise SlackApiError("invalid_arguments", ["view type must be home [json-pointer:/view/type]"])
        self._validate_view(view)

        with self._lock:
            view_id = self._home_views.get(user_id)
            current = self._views.get(view_id) if view_id else None
            if params.get("hash") and current and params["hash"] != current["hash"]:
                raise SlackApiError("hash_conflict")
            stored = self._store_view(view, workspace, view_id=view_id)
            self._home_views[user_id] = stored["id"]
        return {"view": stored}

    def _views_open(self, params: dict[str, Any], workspace: Workspace) -> dict[str, Any]:
        self._use_trigger_id(params)
        view = self._require_modal(params)
        with self._lock:
            stored = self._store_view(view, workspace)
        return {"view": stored}

    def _views_push(self, params: dict[str, Any], workspace: Workspace) -> dict[str, Any]:
        # NOTE: the stack limit of 3 views is not enforced, because the fake cannot tell
        # which open modal a trigger_id came from.
        self._use_trigger_id(params)
        view = self._require_modal(params)
        with self._lock:
            stored = self._store_view(view, workspace)
        return {"view": stored}

    def _views_update(self, params: dict[str, Any], workspace: Workspace) -> dict[str, Any]:
        view = params.get("view")
        if not isinstance(view, dict):
            raise SlackApiError("invalid_arguments", ["view is required"])
        self._validate_view(view)
        with self._lock:
            view_id = params.get("view_id")
            if not view_id and params.get("external_id"):
                view_id = next(
                    (v["id"] for v in self._views.values() if v.get("external_id") == params["external_id"]),
                    None,
                )
            current = self._views.get(view_id) if view_id else None
            if current is None:
                raise SlackApiError("not_found")
            if params.get("hash") and params["hash"] != current["hash"]:
                raise SlackApiError("hash_conflict")
            stored = self._store_view(view, workspace, view_id=view_id)
        return {"view": stored}

    def _assistant_set_status(self, params: dict[str, Any], workspace: Workspace) -> dict[str, Any]:
        self._require_arguments(params, "channel_id", "thread_ts")
        if "status" not in params:
            raise SlackApiError("invalid_arguments", ["missing required field: status"])
        return {}

    def _assistant_set_title(self, params: dict[str, Any], workspace: Workspace) -> dict[str, Any]:
        self._require_arguments(params, "channel_id", "thread_ts", "title")
        return {}

    def _assistant_set_suggested_prompts(self, params: dict[str, Any], workspace: Workspace) -> dict[str, Any]:
        self._require_arguments(params, "channel_id", "prompts")
        prompts = params["prompts"]
        if not isinstance(prompts, list) or not 1 <= len(prompts) <= 4:
            raise SlackApiError("invalid_arguments", ["prompts must be an array of 1 to 4 items"])
        return {}

    def _files_info(self, params: dict[str, Any], workspace: Workspace) -> dict[str, Any]:
        file_id = str(params.get("file") or "")
        with self._lock:
            known = file_id in self._files
        if not known:
            raise SlackApiError("file_not_found")
        return {"file": self.file_object(file_id), "comments": [], "response_metadata": {"next_cursor": ""}}

    # ------------------------------------------------------------------ validation

    def _require_channel(self, params: dict[str, Any]) -> str:
        channel = params.get("channel")
        if not channel:
            raise SlackApiError("channel_not_found")
        return self._resolve_channel(str(channel))

    @staticmethod
    def _require_arguments(params: dict[str, Any], *names: str) -> None:
        missing = [name for name in names if not params.get(name)]
        if missing:
            raise SlackApiError("invalid_arguments", [f"missing required field: {name}" for name in missing])

    @staticmethod
    def _message_content(params: dict[str, Any]) -> tuple[str, list[Any] | None]:
        text = params.get("text")
        blocks = params.get("blocks")
        if not text and not blocks:
            raise SlackApiError("no_text")
        if blocks is not None:
            if not isinstance(blocks, list):
                raise SlackApiError("invalid_blocks_format")
            problems = block_errors(blocks, MAX_MESSAGE_BLOCKS, "/blocks")
            if problems:
                raise SlackApiError("invalid_blocks", problems)
        # Slack cuts text longer than 40,000 characters instead of rejecting it.
        return str(text or "")[:MAX_MESSAGE_TEXT], blocks

    def _use_trigger_id(self, params: dict[str, Any]) -> None:
        trigger_id = params.get("trigger_id")
        if not trigger_id:
            raise SlackApiError("invalid_arguments", ["missing required field: trigger_id"])
        with self._lock:
            if trigger_id in self._expired_trigger_ids:
                raise SlackApiError("expired_trigger_id")
            if trigger_id in self._used_trigger_ids:
                raise SlackApiError("exchanged_trigger_id")
            self._used_trigger_ids.add(trigger_id)

    def _require_modal(self, params: dict[str, Any]) -> dict[str, Any]:
        view = params.get("view")
        if not isinstance(view, dict):
            raise SlackApiError("invalid_arguments", ["view is required"])
        if view.get("type") != "modal":
            raise SlackApiError("invalid_arguments", ["view type must be modal [json-pointer:/view/type]"])
        self._validate_view(view)
        return view

    @staticmethod
    def _validate_view(view: dict[str, Any]) -> None:
        if len(json.dumps(view).encode()) > MAX_VIEW_JSON_BYTES:
            raise SlackApiError("view_too_large")

        problems = block_errors(view.get("blocks", []), MAX_VIEW_BLOCKS, "/view/blocks")
        if view.get("type") == "modal":
            for key in ("title", "submit", "close"):
                problems += _text_object_errors(view.get(key), 24, f"/view/{key}", required=key == "title")
        if len(str(view.get("private_metadata", ""))) > 3000:
            problems.append("must be less than 3001 characters [json-pointer:/view/private_metadata]")
        if len(str(view.get("callback_id", ""))) > 255:
            problems.append("must be less than 256 characters [json-pointer:/view/callback_id]")
        if problems:
            raise SlackApiError("invalid_arguments", problems)

    def _store_view(self, view: dict[str, Any], workspace: Workspace, view_id: str | None = None) -> dict[str, Any]:
        view_id = view_id or self._next_id("V")
        previous = self._views.get(view_id, {})
        stored = {
            "id": view_id,
            "team_id": workspace.team_id,
            "type": view["type"],
            "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.fake{next(self._counter)}",
            "title": view.get("title"),
            "submit": view.get("submit"),
            "close": view.get("close"),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "root_view_id": previous.get("root_view_id", view_id),
            "previous_view_id": None,
            "app_id": workspace.app_id,
            "app_installed_team_id": workspace.team_id,
            "bot_id": workspace.bot_id,
        }
        self._views[view_id] = stored
        return json.loads(json.dumps(stored))


# ---------------------------------------------------------------------- Block Kit checks


def block_errors(blocks: Any, max_blocks: int, pointer: str) -> list[str]:
    """List Block Kit limit violations in Slack's ``response_metadata.messages`` form.

    Covers the limits most likely to be hit by generated content: block count, block_id
    length and uniqueness, section/header/context/actions/input sizes and button fields.
    NOTE: it checks a subset of Block Kit rules, so a payload it accepts may still be
    rejected by Slack.
    """
    if not isinstance(blocks, list):
        return [f"must be an array [json-pointer:{pointer}]"]
    problems: list[str] = []
    if len(blocks) > max_blocks:
        problems.append(f"must provide an array with no more than {max_blocks} items [json-pointer:{pointer}]")

    seen_block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        where = f"{pointer}/{index}"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            problems.append(f"missing required field: type [json-pointer:{where}]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if len(str(block_id)) > 255:
                problems.append(f"must be less than 256 characters [json-pointer:{where}/block_id]")
            if block_id in seen_block_ids:
                problems.append(f"duplicate block_id {block_id!r} [json-pointer:{where}/block_id]")
            seen_block_ids.add(block_id)
        problems += _block_type_errors(block, where)
    return problems


def _block_type_errors(block: dict[str, Any], where: str) -> list[str]:
    kind = block["type"]
    problems: list[str] = []
    if kind == "section":
        if "text" not in block and "fields" not in block:
            problems.append(f"must provide text or fields [json-pointer:{where}]")
        problems += _text_object_errors(block.get("text"), 3000, f"{where}/text")
        fields = block.get("fields") or []
        if len(fields) > 10:
            problems.append(f"must provide an array with no more than 10 items [json-pointer:{where}/fields]")
        for number, field_text in enumerate(fields):
            problems += _text_object_errors(field_text, 2000, f"{where}/fields/{number}")
        if isinstance(block.get("accessory"), dict):
            problems += _element_errors(block["accessory"], f"{where}/accessory")
    elif kind == "header":
        problems += _text_object_errors(block.get("text"), 150, f"{where}/text", required=True, plain=True)
    elif kind == "context":
        elements = block.get("elements") or []
        if not 1 <= len(elements) <= 10:
            problems.append(f"must provide an array of 1 to 10 items [json-pointer:{where}/elements]")
    elif kind == "actions":
        elements = block.get("elements") or []
        if not 1 <= len(elements) <= 25:
            problems.append(f"must provide an array of 1 to 25 items [json-pointer:{where}/elements]")
        for number, element in enumerate(elements):
            problems += _element_errors(element, f"{where}/elements/{number}")
    elif kind == "input":
        problems += _text_object_errors(block.get("label"), 2000, f"{where}/label", required=True, plain=True)
        if not isinstance(block.get("element"), dict):
            problems.append(f"missing required field: element [json-pointer:{where}]")
        else:
            problems += _element_errors(block["element"], f"{where}/element")
    return problems


def _element_errors(element: Any, where: str) -> list[str]:
    if not isinstance(element, dict) or "type" not in element:
        return [f"missing required field: type [json-pointer:{where}]"]
    problems: list[str] = []
    if len(str(element.get("action_id", ""))) > 255:
        problems.append(f"must be less than 256 characters [json-pointer:{where}/action_id]")
    if element["type"] == "button":
        problems += _text_object_errors(element.get("text"), 75, f"{where}/text", required=True, plain=True)
        if len(str(element.get("value", ""))) > 2000:
            problems.append(f"must be less than 2001 characters [json-pointer:{where}/value]")
        if len(str(element.get("url", ""))) > 3000:
            problems.append(f"must be less than 3001 characters [json-pointer:{where}/url]")
        if element.get("style") not in (None, "primary", "danger"):
            problems.append(f"must be one of primary, danger [json-pointer:{where}/style]")
    return problems


def _text_object_errors(
    text: Any, max_length: int, where: str, *, required: bool = False, plain: bool = False
) -> list[str]:
    if text is None:
        return [f"missing required field [json-pointer:{where}]"] if required else []
    if not isinstance(text, dict) or text.get("type") not in ("plain_text", "mrkdwn"):
        return [f"must be a text object [json-pointer:{where}]"]
    if plain and text["type"] != "plain_text":
        return [f"must be plain_text [json-pointer:{where}/type]"]
    if len(str(text.get("text", ""))) > max_length:
        return [f"must be less than {max_length + 1} characters [json-pointer:{where}/text]"]
    return []


# ---------------------------------------------------------------------- HTTP plumbing


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeSlack/1.0"

    @property
    def fake(self) -> FakeSlack:
        return self.server.fake  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, verb: str) -> None:
        split = urlsplit(self.path)
        path = split.path
        raw_body = self._read_body()
        auth_header = self.headers.get("Authorization", "")

        if path.startswith("/api/"):
            params = dict(parse_qsl(split.query, keep_blank_values=True))
            params.update(_parse_body(raw_body, self.headers.get("Content-Type", "")))
            _decode_json_arguments(params)
            status, body, headers = self.fake._handle_api(path[len("/api/") :], params, auth_header)
            self._send_json(status, body, headers)
        elif path.startswith("/response/") and verb == "POST":
            url = f"{self.fake.root_url}{path.lstrip('/')}"
            try:
                payload = json.loads(raw_body or b"{}")
            except ValueError:
                self._send(400, b"invalid_payload", "text/plain")
                return
            status, text = self.fake._handle_response_url(url, payload)
            self._send(status, text.encode(), "text/plain")
        elif path.startswith("/files/") and verb == "GET":
            status, data, content_type = self.fake._handle_download(unquote(path), auth_header)
            self._send(status, data, content_type)
        elif path.startswith("/_fake/"):
            try:
                status, body = _control(self.fake, verb, path[len("/_fake/") :], raw_body, split.query)
            except (KeyError, TypeError, ValueError) as error:
                logger.warning("Invalid control request %s %s: %r", verb, path, error)
                status, body = 400, {"error": f"invalid control request: {error!r}"}
            self._send_json(status, body, {})
        else:
            self._send(404, b"not found", "text/plain")

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(self, status: int, body: Any, headers: dict[str, str]) -> None:
        self._send(status, json.dumps(body).encode(), "application/json; charset=utf-8", headers)

    def _send(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _parse_body(raw_body: bytes, content_type: str) -> dict[str, Any]:
    if not raw_body:
        return {}
    if content_type.startswith("application/json"):
        parsed = json.loads(raw_body)
        return parsed if isinstance(parsed, dict) else {}
    # NOTE: multipart bodies (files.upload) are not parsed, so their fields are not recorded.
    if content_type.startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(raw_body.decode(), keep_blank_values=True))
    return {}


def _decode_json_arguments(params: dict[str, Any]) -> None:
    for name in JSON_ARGUMENTS:
        value = params.get(name)
        if isinstance(value, str) and value[:1] in ("[", "{"):
            try:
                params[name] = json.loads(value)
            except ValueError:
                pass  # Kept as a string, so the method rejects it the way Slack would.


def _control(fake: FakeSlack, verb: str, route: str, raw_body: bytes, query: str) -> tuple[int, Any]:
    """Serve the ``/_fake/`` JSON endpoints that drive the fake from another process."""
    request = json.loads(raw_body) if raw_body else {}
    arguments = dict(parse_qsl(query))

    if verb == "GET":
        if route == "health":
            return 200, {"ok": True, "base_url": fake.base_url}
        if route == "calls":
            method = arguments.get("method")
            return 200, {"calls": [{"method": m, "params": p} for m, p in fake.calls if method in (None, m)]}
        if route.startswith("home/"):
            view = fake.home_view(route[len("home/") :])
            return (200, {"view": view}) if view else (404, {"error": "no home view published"})
        if route.startswith("views/"):
            view = fake.view(route[len("views/") :])
            return (200, {"view": view}) if view else (404, {"error": "view not found"})
        if route == "messages":
            return 200, {"messages": fake.messages(arguments.get("channel"))}
        if route == "responses":
            return 200, {"responses": fake.responses(arguments.get("url"))}
        if route == "tokens":
            return 200, {"tokens": sorted(fake.issued_tokens)}
        if route == "installations":
            return 200, {"installations": fake.installations}
        if route == "downloads":
            return 200, {"downloads": fake.downloads}
        return 404, {"error": f"unknown control endpoint GET /_fake/{route}"}

    if route == "users":
        fake.add_user(request.pop("user_id"), **request)
        return 200, {"ok": True}
    if route == "files":
        data = base64.b64decode(request["data_base64"]) if "data_base64" in request else request.get("text", "").encode()
        file_object = fake.add_file(request["file_id"], request["name"], data, request.get("mimetype", "application/octet-stream"))
        return 200, {"file": file_object}
    if route == "tokens":
        fake.add_token(request["token"])
        return 200, {"ok": True}
    if route == "oauth_codes":
        fake.add_oauth_code(request.pop("code"), **request)
        return 200, {"ok": True}
    if route == "rate_limit":
        fake.rate_limit(request["method"], request.get("times", 1), request.get("retry_after", 1))
        return 200, {"ok": True}
    if route == "fail":
        fake.fail(request["method"], request["error"], request.get("times", 1))
        return 200, {"ok": True}
    if route == "response_urls":
        return 200, {"url": fake.new_response_url()}
    if route == "reset":
        fake.clear_calls()
        return 200, {"ok": True}
    return 404, {"error": f"unknown control endpoint POST /_fake/{route}"}


def main(argv: list[str] | None = None) -> None:
    """Run the fake in the foreground until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(description="Run the fake Slack Web API on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0, help="TCP port to listen on (0 picks a free port)")
    parser.add_argument("--token", action="append", help="accepted bot token (repeatable), default xoxb-test-token")
    parser.add_argument("--client-id", default="1111.2222", help="client_id accepted by oauth.v2.access")
    parser.add_argument("--client-secret", default="fake-client-secret", help="client_secret accepted by oauth.v2.access")
    arguments = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    fake = FakeSlack(
        arguments.port,
        arguments.token or (DEFAULT_BOT_TOKEN,),
        client_id=arguments.client_id,
        client_secret=arguments.client_secret,
    ).start()
    print(fake.base_url, flush=True)

    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    fake.stop()


if __name__ == "__main__":
    main()
