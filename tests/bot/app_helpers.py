"""Shared harness for tests of the Slack app: the real Bolt and WSGI apps against fakes.

`AppHarness` builds the services on the test's database with a FixedClock, starts
FakeSlack, FakeLinkedIn and FakeOpenAI on 127.0.0.1, points the settings at them, builds
the real Bolt app and the real WSGI app, and offers:

- `post(request)`: sign a builder's `(body, content_type)` and POST it to /slack/events
  through the WSGI app; returns `(status_code, headers, body)`.
- `get(url_or_path)`: GET any route of the WSGI app, with cookies from earlier responses.
- `run_tasks()`: run every pending durable task now, on the calling thread's schedule.

Listeners run inline by default (an executor that runs each job at once), so when `post`
returns, the listener has finished, acks included. Pass `inline=False` to get Bolt's
thread pool, then wait with `fake_slack.wait_for(...)`.

Use it through the pytest fixture `app_harness` (bind it in your test module with
`from tests.bot import app_helpers` and `app_harness = app_helpers.app_harness`, which ruff
accepts) or through `make_harness(...)` for other settings. `connect_user` and `add_post`
set up a LinkedIn connection and post rows.
"""

from __future__ import annotations

import base64
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from datetime import timedelta
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

import pytest

from bot.app import build_app, build_services_for_app
from bot.settings import Settings, load_settings
from bot.web import create_wsgi_app
from storage.connections import StoredConnection, save_connection
from storage.db import transaction
from storage.models import Post
from storage.vault import generate_key
from tests.conftest import FixedClock
from tests.fakes.linkedin_server import ALL_SCOPES, FakeLinkedIn
from tests.fakes.openai_server import DEFAULT_API_KEY as OPENAI_API_KEY
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_requests import call_wsgi, sign
from tests.fakes.slack_server import DEFAULT_BOT_TOKEN, FakeSlack

SIGNING_SECRET = "test-signing-secret"
PUBLIC_URL = "http://127.0.0.1:3000"


class InlineExecutor(Executor):
    """Runs each submitted job at once on the caller's thread."""

    def submit(self, fn, /, *args, **kwargs):
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # noqa: BLE001 - handed to the future like a pool would
            future.set_exception(error)
        return future


def harness_environ(
    fake_slack: FakeSlack,
    fake_linkedin: FakeLinkedIn,
    fake_openai: FakeOpenAI | None,
    *,
    database_url: str,
    public_url: str = PUBLIC_URL,
    multi_workspace: bool = False,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """Return the environment variables of an app wired to the fakes."""
    environ = {
        "DATABASE_URL": database_url,
        "TOKEN_ENCRYPTION_KEY": base64.urlsafe_b64encode(generate_key()).decode(),
        "PUBLIC_URL": public_url,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.base_url,
        "LINKEDIN_CLIENT_ID": fake_linkedin.client_id,
        "LINKEDIN_CLIENT_SECRET": fake_linkedin.client_secret,
        "LINKEDIN_OAUTH_URL": fake_linkedin.oauth_url,
        "LINKEDIN_API_URL": fake_linkedin.api_url,
    }
    if multi_workspace:
        environ.update({"SLACK_CLIENT_ID": fake_slack.client_id, "SLACK_CLIENT_SECRET": fake_slack.client_secret})
    else:
        environ["SLACK_BOT_TOKEN"] = DEFAULT_BOT_TOKEN
    if fake_openai is not None:
        environ.update({"OPENAI_API_KEY": OPENAI_API_KEY, "OPENAI_BASE_URL": fake_openai.base_url})
    environ.update(extra or {})
    return environ


@dataclass
class AppHarness:
    services: Any
    settings: Settings
    clock: FixedClock
    fake_slack: FakeSlack
    fake_linkedin: FakeLinkedIn
    fake_openai: FakeOpenAI | None
    bolt_app: Any
    wsgi: Any
    cookies: dict[str, str] = field(default_factory=dict)

    # Slack requests

    def post(self, request: tuple[bytes, str], *, timestamp: int | str | None = None, signature: str | None = None, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """Sign `request` (a slack_requests builder's result) and POST it to /slack/events.

        `timestamp` defaults to the real time, because Bolt checks it against time.time(),
        not against the FixedClock. `signature=""` sends no signature header.
        """
        body, content_type = request
        signed = sign(SIGNING_SECRET, body, timestamp, content_type)
        if signature is not None:
            signed["x-slack-signature"] = signature
            if signature == "":
                del signed["x-slack-signature"]
        signed.update(headers or {})
        status, response_headers, payload = call_wsgi(self.wsgi, "POST", "/slack/events", body, signed)
        return _status_code(status), dict(response_headers), payload

    # Plain HTTP routes

    def get(self, url_or_path: str, *, use_cookies: bool = True) -> tuple[int, dict[str, str], bytes]:
        """GET a path (or a full URL of PUBLIC_URL) through the WSGI app, like a browser.

        Cookies that earlier responses set are sent back and new ones remembered.
        """
        parts = urlsplit(url_or_path)
        headers = {}
        if use_cookies and self.cookies:
            headers["cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        status, response_headers, payload = call_wsgi(self.wsgi, "GET", parts.path, b"", headers, parts.query)
        self._remember_cookies(response_headers)
        return _status_code(status), _merge_headers(response_headers), payload

    def _remember_cookies(self, headers: list[tuple[str, str]]) -> None:
        for name, value in headers:
            if name.lower() != "set-cookie":
                continue
            cookie = SimpleCookie()
            cookie.load(value)
            for key, morsel in cookie.items():
                if morsel.value and morsel["max-age"] not in ("0",):
                    self.cookies[key] = morsel.value
                else:
                    self.cookies.pop(key, None)

    # Background work

    def run_tasks(self, max_rounds: int = 10) -> int:
        """Run pending durable tasks until none is ready. Return how many ran."""
        total = 0
        for _ in range(max_rounds):
            ran = self.services.task_runner.run_pending(wait=True)
            total += ran
            if not ran:
                break
        return total

    def close(self) -> None:
        self.services.task_runner.stop()
        for fake in (self.fake_slack, self.fake_linkedin, self.fake_openai):
            if fake is not None:
                fake.stop()


def _status_code(status_line: str) -> int:
    return int(status_line.split()[0])


def _merge_headers(headers: list[tuple[str, str]]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        merged[key] = f"{merged[key]}\n{value}" if key in merged else value
    return merged


def make_harness(
    db_engine,
    *,
    clock: FixedClock | None = None,
    multi_workspace: bool = False,
    inline: bool = True,
    public_url: str = PUBLIC_URL,
    linkedin_options: dict[str, Any] | None = None,
    slack_options: dict[str, Any] | None = None,
    with_openai: bool = True,
    extra_env: dict[str, str] | None = None,
) -> AppHarness:
    """Start the fakes and build the app on `db_engine`. Call `close()` when done."""
    clock = clock or FixedClock()
    fake_slack = FakeSlack(**(slack_options or {})).start()
    fake_linkedin = FakeLinkedIn(redirect_uri=f"{public_url}/linkedin/callback", **(linkedin_options or {})).start()
    fake_openai = FakeOpenAI().start() if with_openai else None

    environ = harness_environ(
        fake_slack,
        fake_linkedin,
        fake_openai,
        database_url=db_engine.url.render_as_string(hide_password=False),
        public_url=public_url,
        multi_workspace=multi_workspace,
        extra=extra_env,
    )
    try:
        settings = load_settings(environ, dotenv_path=None)
        settings.validate("database", "vault", "http", "slack", "linkedin", "publisher")
        services = build_services_for_app(settings, clock=clock, engine=db_engine)
        # Inline: a task queued by a listener runs before the request returns, as its
        # listener does, so a test sees the result of a click as soon as post() returns.
        services.task_runner.run_on_kick = inline
        bolt_app = build_app(services, listener_executor=InlineExecutor() if inline else None)
        wsgi = create_wsgi_app(services, bolt_app)
    except BaseException:
        for fake in (fake_slack, fake_linkedin, fake_openai):
            if fake is not None:
                fake.stop()
        raise
    return AppHarness(services, settings, clock, fake_slack, fake_linkedin, fake_openai, bolt_app, wsgi)


@pytest.fixture
def app_harness(db_engine, clock):
    """A single-workspace app on the backend under test, with every fake started."""
    harness = make_harness(db_engine, clock=clock)
    yield harness
    harness.close()


# Test data


def connect_user(
    harness: AppHarness,
    team_id: str = "T1",
    user_id: str = "U1",
    *,
    scopes: tuple[str, ...] | None = None,
    organization_ids: tuple[str, ...] = (),
) -> StoredConnection:
    """Store a connection for the fake's member, with an access token the fake accepts."""
    scopes = tuple(scopes if scopes is not None else ALL_SCOPES)
    fake = harness.fake_linkedin
    member = fake.members[fake.login_member_id]
    now = harness.clock()
    connection = StoredConnection(
        team_id=team_id,
        user_id=user_id,
        member_urn=f"urn:li:person:{member.member_id}",
        member_name=f"{member.first_name} {member.last_name}",
        access_token=fake.issue_access_token(scopes=scopes),
        access_token_expires_at=now + timedelta(days=60),
        refresh_token=None,
        refresh_token_expires_at=None,
        scopes=frozenset(scopes),
        organization_ids=organization_ids,
        connected_at=now,
    )
    with transaction(harness.services.sessions) as session:
        save_connection(session, harness.services.vault, connection, now)
    return connection


def add_post(
    harness: AppHarness,
    *,
    status: str = "draft",
    text: str = "Shipped the beta today",
    team_id: str = "T1",
    user_id: str = "U1",
    scheduled_at=None,
    **fields: Any,
) -> int:
    """Insert a post row in `status` directly, for setting up a test. Return its id."""
    now = harness.clock()
    post = Post(
        team_id=team_id,
        owner_user_id=user_id,
        text=text,
        status=status,
        scheduled_at=scheduled_at,
        revision=1,
        attempts=0,
        created_at=now,
        updated_at=now,
        **fields,
    )
    with transaction(harness.services.sessions) as session:
        session.add(post)
        session.flush()
        return post.id
