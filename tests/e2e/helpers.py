"""Helpers of the end-to-end test: product processes, the fakes they talk to, and Slack's side.

`ProductProcess` runs one command of the product (`companycore run`, gunicorn, `companycore
worker`) as a child process with its stdout and stderr in a log file. `Fakes` starts
FakeSlack, FakeLinkedIn and FakeOpenAI on 127.0.0.1 with fresh secrets and builds the
environment of the product. `SlackDriver` plays Slack and the user's browser: it sends
signed requests to the product over HTTP and reads what the product sent to the fake Slack.

Nothing here imports the product's modules except the constants of its Block Kit views and
`linkedin.little_text`, so the processes under test are the only running copy of the product.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests

from bot.views import draft_card, home, modals
from tests.fakes import slack_requests
from tests.fakes.linkedin_server import FakeLinkedIn
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_server import FakeSlack

USER = "U1"
TEAM = "T1"
DM = "D1"
USER_TZ = "Asia/Kolkata"  # UTC+05:30 all year, so a wrong zone conversion shows at once
MEMBER_ID = "e2eMbr7Qx2"
MEMBER_FIRST, MEMBER_LAST = "Ada", "Quillanova"
STOP_SECONDS = 10  # how long a process has after SIGTERM before it gets SIGKILL


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def venv_bin() -> Path:
    """The directory of this interpreter's scripts, where `companycore` and `gunicorn` live."""
    return Path(sys.executable).parent


def wait_until(check: Callable[[], Any], timeout: float, description: str, interval: float = 0.1) -> Any:
    """Poll `check` until it returns something truthy, and return that. Raise on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {description}")
        time.sleep(interval)


# --- Processes ---------------------------------------------------------------------------


@dataclass
class ProductProcess:
    """One product process started by the test, with its output in `log_path`."""

    name: str
    argv: list[str]
    log_path: Path
    process: subprocess.Popen = field(repr=False)
    stop_seconds: float | None = None  # from SIGTERM to exit, when the test stopped it

    @classmethod
    def start(cls, name: str, argv: list[str], environ: dict[str, str], cwd: Path) -> ProductProcess:
        log_path = cwd / f"{name}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(argv, cwd=cwd, env=environ, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return cls(name, argv, log_path, process)

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_bytes().decode(errors="replace") if self.log_path.exists() else ""

    def peak_rss_kib(self) -> int | None:
        """Return VmHWM (peak resident set size, KiB) from /proc, or None when unavailable."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return None

    def stop(self) -> int | None:
        """Send SIGTERM, then SIGKILL to the process and the children it left after STOP_SECONDS."""
        if not self.running():
            return self.process.returncode
        children = _child_pids(self.pid)
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            for pid in children:
                _kill_quietly(pid)
            self.process.wait(timeout=STOP_SECONDS)
        self.stop_seconds = time.monotonic() - started
        return self.process.returncode


def _child_pids(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return children


def _kill_quietly(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def wait_healthy(process: ProductProcess, base_url: str, timeout: float = 30) -> None:
    """Wait until GET /healthz returns 200, failing early if the process exits."""

    def healthy() -> bool:
        assert process.running(), f"{process.name} exited with {process.process.returncode}:\n{process.log_text()}"
        try:
            return requests.get(f"{base_url}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            # gunicorn accepts connections before its workers have imported the app.
            return False

    wait_until(healthy, timeout, f"{process.name} to answer /healthz", interval=0.2)


# --- Fakes and the product's environment ---------------------------------------------------


@dataclass
class Fakes:
    """The three fakes of one scenario and the secrets the product is configured with."""

    slack: FakeSlack
    linkedin: FakeLinkedIn
    openai: FakeOpenAI
    public_url: str
    bot_token: str
    signing_secret: str
    linkedin_client_secret: str
    openai_key: str
    encryption_key: str

    @classmethod
    def start(cls, public_url: str) -> Fakes:
        bot_token = f"xoxb-e2e-{secrets.token_hex(12)}"
        client_secret = f"li-secret-{secrets.token_hex(12)}"
        openai_key = f"sk-e2e-{secrets.token_hex(12)}"

        slack = FakeSlack(bot_tokens=(bot_token,))
        slack.add_user(USER, tz=USER_TZ)
        linkedin = FakeLinkedIn(
            client_id=f"li-client-{secrets.token_hex(4)}",
            client_secret=client_secret,
            redirect_uri=f"{public_url}/linkedin/callback",
        )
        linkedin.add_member(MEMBER_ID, MEMBER_FIRST, MEMBER_LAST)
        linkedin.login_member_id = MEMBER_ID
        openai = FakeOpenAI(api_keys=(openai_key,))

        started = []
        try:
            for fake in (slack, linkedin, openai):
                fake.start()
                started.append(fake)
        except BaseException:
            for fake in started:
                fake.stop()
            raise
        return cls(
            slack, linkedin, openai, public_url, bot_token,
            signing_secret=f"signing-{secrets.token_hex(16)}",
            linkedin_client_secret=client_secret,
            openai_key=openai_key,
            encryption_key=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        )

    def stop(self) -> None:
        for fake in (self.slack, self.linkedin, self.openai):
            fake.stop()

    def product_environ(self, database_url: str, port: int) -> dict[str, str]:
        """Return the environment of a product process, as the README's table describes it.

        The parent's environment is not passed on, except what runs a program at all, so no
        setting of the test run leaks into the product.
        """
        environ = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TZ") if name in os.environ}
        environ["PATH"] = f"{venv_bin()}{os.pathsep}{environ.get('PATH', '')}"
        environ.update({
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": database_url,
            "TOKEN_ENCRYPTION_KEY": self.encryption_key,
            "PUBLIC_URL": self.public_url,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "SLACK_BOT_TOKEN": self.bot_token,
            "SLACK_SIGNING_SECRET": self.signing_secret,
            "SLACK_API_URL": self.slack.base_url,
            "LINKEDIN_CLIENT_ID": self.linkedin.client_id,
            "LINKEDIN_CLIENT_SECRET": self.linkedin_client_secret,
            "LINKEDIN_OAUTH_URL": self.linkedin.oauth_url,
            "LINKEDIN_API_URL": self.linkedin.api_url,
            "OPENAI_API_KEY": self.openai_key,
            "OPENAI_BASE_URL": self.openai.base_url,
        })
        return environ

    def secrets(self) -> set[str]:
        """Every token and secret that must never appear in a log or a database file."""
        return (
            set(self.linkedin.issued_tokens)
            | set(self.slack.issued_tokens)
            | {self.bot_token, self.signing_secret, self.linkedin_client_secret, self.openai_key, self.encryption_key}
        )

    @property
    def member_urn(self) -> str:
        return f"urn:li:person:{MEMBER_ID}"

    @property
    def member_name(self) -> str:
        return f"{MEMBER_FIRST} {MEMBER_LAST}"


def script_openai(openai: FakeOpenAI, replies: dict[str, str]) -> None:
    """Make the fake model reply to each user message that contains a key of `replies` with its draft text."""

    def respond(request: dict[str, Any]) -> dict[str, Any]:
        last = next(m["content"] for m in reversed(request["messages"]) if m["role"] == "user")
        for message, text in replies.items():
            if message in str(last):
                return {"text": text, "media_suggestions": []}
        raise AssertionError(f"the fake model got a message it has no reply for: {last!r}")

    openai.respond_with(respond)


# --- Slack's side ----------------------------------------------------------------------------


@dataclass
class Card:
    """The current state of one draft card message in the DM."""

    ts: str
    thread_ts: str | None
    blocks: list[dict]
    text: str
    post_id: int
    revision: int

    @property
    def value(self) -> str:
        return f"{self.post_id}:{self.revision}"

    def shows(self, text: str) -> bool:
        """Tell whether the card shows the post text `text`, escaped for mrkdwn as Slack needs."""
        escaped = draft_card.escape(text)
        return any(escaped in ((block.get("text") or {}).get("text") or "") for block in self.blocks)

    def is_approved(self) -> bool:
        return self.element(draft_card.UNSCHEDULE) is not None

    def element(self, action_id: str) -> tuple[str, dict] | None:
        """Return (block_id, element) of the element `action_id`, or None."""
        for block in self.blocks:
            for element in block.get("elements", []):
                if isinstance(element, dict) and element.get("action_id") == action_id:
                    return block.get("block_id", ""), element
        return None


def local_date_time(moment: datetime, tz_name: str = USER_TZ) -> tuple[str, str]:
    """Return the ('YYYY-MM-DD', 'HH:MM') a user in `tz_name` picks for the UTC `moment`."""
    local = moment.astimezone(ZoneInfo(tz_name))
    return local.strftime("%Y-%m-%d"), local.strftime("%H:%M")


def schedule_minute(now: datetime | None = None) -> datetime:
    """Return the start of the minute after the next whole minute, in UTC."""
    now = now or datetime.now(UTC)
    return now.replace(second=0, microsecond=0) + timedelta(minutes=2)


class SlackDriver:
    """Acts as Slack (signed requests to /slack/events) and as the user's browser."""

    def __init__(self, fakes: Fakes, app_url: str):
        self.fakes = fakes
        self.slack = fakes.slack
        self.app_url = app_url.rstrip("/")
        self.requester = slack_requests.SlackRequester(self.app_url, fakes.signing_secret)
        self.browser = requests.Session()

    def post(self, request: tuple[bytes, str]) -> requests.Response:
        response = self.requester.post(request)
        assert response.status_code == 200, f"Slack request got {response.status_code}: {response.text[:500]}"
        return response

    def command(self, text: str) -> str:
        """Send `/linkedin <text>` from the DM. Return its response_url."""
        response_url = self.slack.new_response_url()
        self.post(slack_requests.slash_command(text, user_id=USER, team_id=TEAM, channel_id=DM, response_url=response_url))
        return response_url

    # Reading what the product sent

    def cards(self) -> dict[int, Card]:
        """Return the newest card of each post in the DM, by post id."""
        newest: dict[int, Card] = {}
        seen: set[str] = set()
        for entry in self.slack.messages(DM):
            if entry["ts"] in seen:
                continue
            seen.add(entry["ts"])
            message = self.slack.message(DM, entry["ts"])
            card = _as_card(message) if message else None
            if card and (card.post_id not in newest or card.revision >= newest[card.post_id].revision):
                newest[card.post_id] = card
        return newest

    def wait_for_card(self, description: str, check: Callable[[Card], bool], timeout: float = 20) -> Card:
        def find() -> Card | None:
            return next((card for card in self.cards().values() if check(card)), None)

        return wait_until(find, timeout, description)

    def home_text(self) -> str:
        view = self.slack.home_view(USER)
        return json.dumps(view["blocks"], ensure_ascii=False) if view else ""

    def dm_texts(self) -> list[str]:
        return [m["text"] or "" for m in self.slack.messages(DM) if m["method"] == "chat.postMessage"]

    # Clicking

    def click(self, card: Card, action_id: str, *, when: datetime | None = None) -> str:
        """Press a card button with the card's pickers set to `when`. Return the response_url."""
        block_id, element = card.element(action_id)
        response_url = self.slack.new_response_url()
        request = slack_requests.block_action(
            action_id, element["value"], user_id=USER, team_id=TEAM, block_id=block_id, channel_id=DM,
            message_ts=card.ts, thread_ts=card.thread_ts, message_blocks=card.blocks, message_text=card.text,
            state_values=self._picker_state(card, when), response_url=response_url,
        )
        self.post(request)
        return response_url

    def _picker_state(self, card: Card, when: datetime | None) -> dict:
        """The state Slack sends with a card click: the author select and the chosen date and time."""
        found = card.element(draft_card.AUTHOR)
        if found is None:
            return {}
        block_id, author = found
        state = {draft_card.AUTHOR: {"type": "static_select", "selected_option": author["initial_option"]}}
        if when is not None:
            date_str, time_str = local_date_time(when)
            state[draft_card.DATE] = {"type": "datepicker", "selected_date": date_str}
            state[draft_card.TIME] = {"type": "timepicker", "selected_time": time_str, "timezone": USER_TZ}
        return {block_id: state}

    def edit_in_modal(self, card: Card, text: str, when: datetime) -> requests.Response:
        """Press Edit, then submit the write modal with `text`, `when` and the approval box unticked."""
        opened = len(self.slack.calls_to("views.open"))
        self.click(card, draft_card.EDIT)
        self.slack.wait_for("views.open", count=opened + 1, timeout=10)
        # The fake's stored views carry the id Slack gives a view; the recorded call does not.
        view = [
            view for view in self.slack.views
            if view["callback_id"] == modals.WRITE_CALLBACK and json.loads(view["private_metadata"])["post_id"] == card.post_id
        ][-1]

        author = next(b for b in view["blocks"] if b.get("block_id") == modals.AUTHOR)["element"]
        date_str, time_str = local_date_time(when)
        values = {
            modals.TEXT: {modals.TEXT: {"type": "plain_text_input", "value": text}},
            modals.AUTHOR: {modals.AUTHOR: {"type": "static_select", "selected_option": author["initial_option"]}},
            modals.DATE: {modals.DATE: {"type": "datepicker", "selected_date": date_str}},
            modals.TIME: {modals.TIME: {"type": "timepicker", "selected_time": time_str, "timezone": USER_TZ}},
            modals.APPROVE: {modals.APPROVE: {"type": "checkboxes", "selected_options": []}},
            modals.IMAGE: {modals.IMAGE: {"type": "file_input", "files": []}},
        }
        request = slack_requests.view_submission(
            modals.WRITE_CALLBACK, values, private_metadata=view["private_metadata"], user_id=USER, team_id=TEAM,
            view_id=view["id"], blocks=view["blocks"], title=view["title"]["text"],
        )
        return self.post(request)

    def disconnect_from_home(self) -> None:
        """Press Home's "Disconnect LinkedIn" and confirm, as Slack sends it after the dialog."""
        view = self.slack.home_view(USER)
        block = next(b for b in view["blocks"] if b.get("block_id") == "connection")
        button = next(e for e in block["elements"] if e.get("action_id") == home.DISCONNECT_ACTION)
        assert "confirm" in button, "Disconnect must ask for confirmation"
        request = slack_requests.block_action(
            home.DISCONNECT_ACTION, button.get("value"), user_id=USER, team_id=TEAM, block_id="connection",
            container="view", view_type="home", view_id=view["id"], view_blocks=view["blocks"],
        )
        self.post(request)

    # The browser

    def connect_linkedin(self) -> requests.Response:
        """Run /linkedin connect and follow the link through LinkedIn's consent back to the app."""
        response_url = self.command("connect")
        [reply] = wait_until(lambda: self.slack.responses(response_url), 10, "the connect link")
        link = next(
            block["accessory"]["url"] for block in reply["blocks"] if (block.get("accessory") or {}).get("url")
        )
        assert link.startswith(f"{self.fakes.public_url}/linkedin/connect?")

        to_linkedin = self.browser.get(link, allow_redirects=False, timeout=10)
        assert to_linkedin.status_code == 302, to_linkedin.text
        authorize_url = to_linkedin.headers["Location"]
        assert authorize_url.startswith(f"{self.fakes.linkedin.oauth_url}/authorization?")

        back = self.browser.get(authorize_url, allow_redirects=False, timeout=10)
        assert back.status_code == 302, back.text
        callback = back.headers["Location"]
        assert callback.startswith(f"{self.fakes.public_url}/linkedin/callback?")
        return self.browser.get(callback, allow_redirects=False, timeout=20)


def _as_card(message: dict) -> Card | None:
    """Read a message as a draft card: its post id and revision come from the buttons' value."""
    for block in message.get("blocks") or []:
        for element in block.get("elements", []):
            action_id = element.get("action_id") if isinstance(element, dict) else None
            if action_id in (draft_card.APPROVE_SCHEDULE, draft_card.UNSCHEDULE):
                post_id, revision = element["value"].split(":")[:2]
                return Card(message["ts"], message.get("thread_ts"), message["blocks"], message.get("text") or "",
                            int(post_id), int(revision))
    return None


# --- Scanning for secrets -------------------------------------------------------------------


def find_in_blob(blob: bytes, needles: set[str]) -> list[str]:
    """Return the needles that occur in `blob`, shortened so a failure never prints a whole token."""
    return sorted(f"{needle[:12]}…" for needle in needles if needle and needle.encode() in blob)


def sqlite_files(database_path: Path) -> dict[str, bytes]:
    """Read the SQLite database file and its -wal and -shm files, as raw bytes."""
    files = {}
    for suffix in ("", "-wal", "-shm"):
        path = Path(f"{database_path}{suffix}")
        if path.exists():
            files[path.name] = path.read_bytes()
    return files


def postgres_dump(database_url: str) -> bytes:
    """Return every row of every table of the public schema, rendered as bytes."""
    from sqlalchemy import inspect, text

    from storage.db import make_engine

    engine = make_engine(database_url)
    parts: list[bytes] = []
    try:
        with engine.connect() as connection:
            for table in inspect(connection).get_table_names():
                for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                    for value in row:
                        parts.append(bytes(value) if isinstance(value, (bytes, memoryview)) else str(value).encode())
    finally:
        engine.dispose()
    return b"\n".join(parts)
