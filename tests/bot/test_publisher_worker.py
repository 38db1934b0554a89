"""The worker process: `companycore worker --once`, SIGTERM, and the in-process scheduler."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

from bot.worker import start_in_process
from storage.models import PostStatus
from tests.bot.app_helpers import make_harness
from tests.bot.publisher_helpers import approved_post, connect, load_post
from tests.bot.test_publisher_crash import REPO, shared_database, subprocess_environ, wait_until  # noqa: F401
from tests.conftest import FixedClock


def test_worker_once_publishes_due_post_and_exits(shared_database):  # noqa: F811
    url, engine = shared_database
    harness = make_harness(engine, clock=FixedClock(datetime.now(UTC)), with_openai=False)
    try:
        connect(harness)
        post_id = approved_post(harness, "Sent by cron")

        result = subprocess.run(
            [sys.executable, "-m", "bot", "worker", "--once"],
            cwd=REPO, env=subprocess_environ(harness.settings, url), capture_output=True, text=True, timeout=60,
        )

        assert result.returncode == 0, result.stderr
        assert load_post(harness, post_id).status == PostStatus.PUBLISHED
        assert harness.fake_linkedin.create_requests == 1
    finally:
        harness.close()


def test_worker_stops_on_sigterm(shared_database):  # noqa: F811
    url, engine = shared_database
    harness = make_harness(engine, clock=FixedClock(datetime.now(UTC)), with_openai=False)
    try:
        connect(harness)
        worker = subprocess.Popen(
            [sys.executable, "-m", "bot", "worker"],
            cwd=REPO, env=subprocess_environ(harness.settings, url), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        post_id = approved_post(harness, "Sent by the long-running worker")
        wait_until(lambda: load_post(harness, post_id).status == PostStatus.PUBLISHED, timeout=20)

        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=20)

        assert code == 0
        assert "worker stopped" in worker.stderr.read()
    finally:
        if worker.poll() is None:
            worker.kill()
        harness.close()


def test_in_process_worker_publishes_within_seconds(db_engine, clock):
    harness = make_harness(db_engine, clock=clock, with_openai=False)
    worker = start_in_process(harness.services)
    try:
        connect(harness)
        post_id = approved_post(harness, "Sent in process")
        started = time.monotonic()

        wait_until(lambda: load_post(harness, post_id).status == PostStatus.PUBLISHED, timeout=10)

        assert time.monotonic() - started < 5
        assert harness.fake_linkedin.create_requests == 1
    finally:
        worker.shutdown()
        harness.close()
