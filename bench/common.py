"""Shared pieces of the benchmarks: scratch databases, fakes' environment, seeding, processes.

Every server a benchmark starts listens on 127.0.0.1, and every process it starts is
terminated by `stop_process` before the benchmark returns. Nothing here is imported by the
product; it is for the scripts under bench/ only.
"""

from __future__ import annotations

import base64
import math
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import requests
from sqlalchemy import text

from linkedin.client import PERSON_URN_PREFIX
from storage import posts as lifecycle
from storage.connections import StoredConnection, save_connection
from storage.db import make_engine, make_session_factory, migrate, transaction
from storage.vault import TokenVault, generate_key
from tests.fakes.linkedin_server import ALL_SCOPES, FakeLinkedIn
from tests.fakes.slack_server import DEFAULT_BOT_TOKEN, FakeSlack

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
SIGNING_SECRET = "bench-signing-secret"
TEAM = "T1"
OWNER = "U1"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"


def psycopg_url(url: str) -> str:
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def create_scratch_database(server_url: str) -> tuple[str, Callable[[], None]]:
    """Create and migrate an empty PostgreSQL database on `server_url`. Return its URL and a drop function."""
    name = f"cc_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(psycopg_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = psycopg_url(server_url).rsplit("/", 1)[0] + "/" + name

    engine = make_engine(url)
    migrate(engine)
    engine.dispose()

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def new_encryption_key() -> str:
    return base64.urlsafe_b64encode(generate_key()).decode()


def app_environ(fake_slack: FakeSlack, fake_linkedin: FakeLinkedIn, *, database_url: str, encryption_key: str, port: int = 3000) -> dict[str, str]:
    """Return the environment of a companycore process wired to the fakes in this process."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("SLACK_", "LINKEDIN_", "OPENAI_"))}
    environ.update({
        "DATABASE_URL": database_url,
        "TOKEN_ENCRYPTION_KEY": encryption_key,
        "PUBLIC_URL": f"http://{HOST}:{port}",
        "HOST": HOST,
        "PORT": str(port),
        "SLACK_BOT_TOKEN": DEFAULT_BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.base_url,
        "LINKEDIN_CLIENT_ID": fake_linkedin.client_id,
        "LINKEDIN_CLIENT_SECRET": fake_linkedin.client_secret,
        "LINKEDIN_OAUTH_URL": fake_linkedin.oauth_url,
        "LINKEDIN_API_URL": fake_linkedin.api_url,
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(REPO),
    })
    return environ


def open_database(database_url: str, encryption_key: str):
    """Return (engine, session factory, vault) for seeding the database the app uses."""
    engine = make_engine(database_url)
    vault = TokenVault(base64.urlsafe_b64decode(encryption_key))
    return engine, make_session_factory(engine), vault


def seed_connection(sessions, vault: TokenVault, fake_linkedin: FakeLinkedIn, now: datetime, user_id: str = OWNER) -> None:
    """Store a LinkedIn connection for `user_id` with an access token the fake issued."""
    token = fake_linkedin.issue_access_token()
    connection = StoredConnection(
        team_id=TEAM,
        user_id=user_id,
        member_urn=f"{PERSON_URN_PREFIX}{fake_linkedin.login_member_id}",
        member_name="Ada Lovelace",
        access_token=token,
        access_token_expires_at=now + timedelta(days=60),
        refresh_token=None,
        refresh_token_expires_at=None,
        scopes=frozenset(ALL_SCOPES),
        organization_ids=(),
    )
    with transaction(sessions) as session:
        save_connection(session, vault, connection, now)


def seed_approved_posts(sessions, schedule: list[tuple[str, datetime]], approved_at: datetime) -> list[int]:
    """Create and approve one post per (text, scheduled_at) through storage.posts.

    The approval rules only accept times from the next whole minute after the approval, so
    the posts are approved as of `approved_at`, a moment before the earliest time.
    """
    rights = lifecycle.PostingRights(scopes=frozenset(ALL_SCOPES), organization_ids=())
    ids = []
    with transaction(sessions) as session:
        for post_text, scheduled_at in schedule:
            post = lifecycle.create_draft(session, team_id=TEAM, owner_user_id=OWNER, now=approved_at, text=post_text)
            lifecycle.approve(session, post, team_id=TEAM, actor_user_id=OWNER, expected_revision=post.revision,
                              scheduled_at=scheduled_at, rights=rights, now=approved_at)
            ids.append(post.id)
    return ids


def procfile_command(process_type: str) -> list[str]:
    """Return the Procfile's command line of `process_type`, split like a shell would."""
    for line in (REPO / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process_type:
            return shlex.split(command.strip())
    raise ValueError(f"Procfile has no {process_type!r} line")


def gunicorn_command(app: str, port: int, *, keep_config: bool = True) -> list[str]:
    """Return the Procfile's web command serving `app`, bound to 127.0.0.1:`port`.

    The Procfile binds 0.0.0.0:$PORT, but a benchmark binds loopback only. Without
    `keep_config` the product's `--config python:bot.gunicorn_conf` is left out, because
    its hooks build the product's app.
    """
    command = procfile_command("web")
    command[0] = str(Path(sys.executable).parent / command[0])
    command[command.index("bot.wsgi:application")] = app
    command[command.index("--bind") + 1] = f"{HOST}:{port}"
    if not keep_config:
        index = command.index("--config")
        del command[index:index + 2]
    return command


def start_process(command: list[str], environ: dict[str, str], log_path: Path) -> subprocess.Popen:
    """Start `command` in its own process group, with stdout and stderr in `log_path`."""
    log = open(log_path, "wb")  # noqa: SIM115 - closed with the process by stop_process
    process = subprocess.Popen(command, cwd=REPO, env=environ, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    process.log = log
    return process


def stop_process(process: subprocess.Popen, timeout: float = 20) -> None:
    """Send SIGTERM to the process group and wait. SIGKILL it if it outlasts `timeout`."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
    process.log.close()


def wait_for_http(url: str, timeout: float = 30, process: subprocess.Popen | None = None) -> None:
    """Poll `url` until it responds with any status, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with status {process.returncode} before {url} responded")
        try:
            requests.get(url, timeout=5)
            return
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not respond within {timeout} s")


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def percentile(samples: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile of `samples` (fraction 0.5 for p50, 0.99 for p99)."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def next_whole_minute(moment: datetime, at_least: timedelta) -> datetime:
    """Return the first whole minute that is at least `at_least` after `moment`."""
    earliest = moment + at_least
    floor = earliest.replace(second=0, microsecond=0)
    return floor if floor == earliest else floor + timedelta(minutes=1)


def worker_command() -> list[str]:
    """Return the Procfile's worker command (`companycore worker`) from this virtualenv."""
    command = procfile_command("worker")
    command[0] = str(Path(sys.executable).parent / command[0])
    return command


class PublishRun:
    """Approved posts in a scratch database, `companycore worker` processes and the fakes they call.

    Use as a context manager: on exit the workers are stopped, the fakes closed and the
    database dropped, whatever happened inside.
    """

    def __init__(self, server_url: str, *, workers: int, route_delays: dict[str, float] | None = None, log_dir: Path):
        self.server_url = server_url
        self.worker_count = workers
        self.route_delays = route_delays
        self.log_dir = log_dir
        self.workers: list[subprocess.Popen] = []

    def __enter__(self) -> PublishRun:
        self.database_url, self._drop = create_scratch_database(self.server_url)
        self.key = new_encryption_key()
        self.engine, self.sessions, self.vault = open_database(self.database_url, self.key)
        self.fake_slack = FakeSlack().start()
        self.fake_linkedin = FakeLinkedIn(route_delays=self.route_delays).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        for process in self.workers:
            stop_process(process, timeout=60)
        self.fake_linkedin.stop()
        self.fake_slack.stop()
        self.engine.dispose()
        self._drop()

    def seed(self, schedule: list[tuple[str, datetime]]) -> None:
        """Connect the owner and approve one post per (text, scheduled_at)."""
        earliest = min(scheduled_at for _text, scheduled_at in schedule)
        seed_connection(self.sessions, self.vault, self.fake_linkedin, datetime.now(earliest.tzinfo))
        seed_approved_posts(self.sessions, schedule, approved_at=earliest - timedelta(minutes=2))

    def start_workers(self) -> None:
        environ = app_environ(self.fake_slack, self.fake_linkedin, database_url=self.database_url, encryption_key=self.key)
        for index in range(self.worker_count):
            self.workers.append(start_process(worker_command(), environ, self.log_dir / f"worker-{index}.log"))

    def created_times(self) -> dict[str, list[float]]:
        """Return, for each post text LinkedIn's fake stored, the Unix times of its creates."""
        times: dict[str, list[float]] = {}
        for post in list(self.fake_linkedin.posts):
            times.setdefault(post.text, []).append(post.created_at_ms / 1000)
        return times
