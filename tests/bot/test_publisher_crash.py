"""A worker that dies mid-publish never causes a second create; many workers publish each post once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.publisher import LEASE, Publisher
from bot.settings import VARIABLES, Settings
from bot.views import notices
from storage import posts as lifecycle
from storage.connections import load_connection
from storage.db import make_engine, migrate, transaction
from storage.models import Post, PostStatus
from tests.bot.app_helpers import make_harness
from tests.bot.publisher_helpers import (
    OWNER,
    TEAM,
    action_ids,
    approved_post,
    connect,
    dms_to,
    load_post,
)
from tests.conftest import TEST_DATABASE_URL, FixedClock, create_postgres_database

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def harness(db_engine, clock):
    harness = make_harness(
        db_engine,
        clock=clock,
        with_openai=False,
        linkedin_options={"image_processing_polls": 0, "clock": lambda: clock().timestamp()},
    )
    yield harness
    harness.close()


@pytest.fixture
def publisher(harness):
    publisher = Publisher(harness.services, max_workers=4)
    yield publisher
    publisher.shutdown()


def claim(harness, limit: int = 10) -> list[int]:
    with transaction(harness.services.sessions) as session:
        return lifecycle.claim_due(session, now=harness.clock(), lease=LEASE, limit=limit, grace=timedelta(hours=1)).claimed


def mark_sent(harness, post_id: int, attempt: int = 1) -> bool:
    with transaction(harness.services.sessions) as session:
        return lifecycle.mark_create_sent_if_leased(session, post_id, attempt, harness.clock(), LEASE)


def test_death_before_create_sent_publishes_once_later(harness, publisher):
    connect(harness)
    post_id = approved_post(harness, "Died before sending")
    assert claim(harness) == [post_id]

    harness.clock.advance(minutes=11)
    rescheduled, unknown = publisher.recover()
    publisher.run_once()

    assert rescheduled == [post_id]
    assert unknown == []
    assert load_post(harness, post_id).status == PostStatus.PUBLISHED
    assert harness.fake_linkedin.create_requests == 1


def test_death_after_create_sent_before_answer_never_resends(harness, publisher):
    connect(harness)
    post_id = approved_post(harness, "Died while sending")
    claim(harness)
    assert mark_sent(harness, post_id)

    harness.clock.advance(minutes=11)
    publisher.recover()
    publisher.run_once()
    harness.clock.advance(hours=2)
    publisher.recover()
    publisher.run_once()

    assert load_post(harness, post_id).status == PostStatus.OUTCOME_UNKNOWN
    assert harness.fake_linkedin.create_requests == 0
    messages = dms_to(harness)
    assert len(messages) == 1
    assert notices.OUTCOME_PUBLISH_AGAIN in action_ids(messages[0])


def test_death_after_answer_before_urn_stored_never_resends(harness, publisher):
    connect(harness)
    post_id = approved_post(harness, "Died after LinkedIn answered")
    claim(harness)
    assert mark_sent(harness, post_id)
    with harness.services.sessions() as session:
        connection = load_connection(session, harness.services.vault, TEAM, OWNER)
    harness.services.linkedin.client(connection.access_token).create_post(connection.member_urn, "Died after LinkedIn answered")

    harness.clock.advance(minutes=11)
    publisher.recover()
    publisher.run_once()

    assert load_post(harness, post_id).status == PostStatus.OUTCOME_UNKNOWN
    assert harness.fake_linkedin.create_requests == 1
    assert len(dms_to(harness)) == 1


def test_worker_that_lost_its_lease_cannot_send(harness, publisher):
    connect(harness)
    post_id = approved_post(harness, "Slow worker")
    claim(harness)
    harness.clock.advance(minutes=11)
    publisher.recover()
    assert claim(harness) == [post_id]

    assert not mark_sent(harness, post_id, attempt=1)
    assert mark_sent(harness, post_id, attempt=2)


# Real processes -------------------------------------------------------------------------


def subprocess_environ(settings: Settings, database_url: str) -> dict[str, str]:
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("SLACK_", "LINKEDIN_", "OPENAI_"))}
    for item in fields(Settings):
        environ[VARIABLES[item.name.upper()].name] = getattr(settings, item.name)
    environ["DATABASE_URL"] = database_url
    environ["PYTHONPATH"] = str(REPO)
    return environ


def start_worker(environ: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.bot.publisher_helpers", *args],
        cwd=REPO, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


@pytest.fixture
def shared_database(tmp_path):
    """A database that other processes can open by URL: (url, engine)."""
    if TEST_DATABASE_URL:
        url, drop = create_postgres_database()
    else:
        url, drop = f"sqlite:///{tmp_path / 'shared.db'}", None
    engine = make_engine(url)
    migrate(engine)
    yield url, engine
    engine.dispose()
    if drop is not None:
        drop()


def wait_until(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_kill_9_during_create_never_resends(shared_database):
    url, engine = shared_database
    clock = FixedClock(datetime.now(UTC))
    harness = make_harness(engine, clock=clock, with_openai=False, linkedin_options={"route_delays": {"posts.create": 30}})
    worker = None
    try:
        connect(harness)
        post_id = approved_post(harness, "Killed mid-create")
        worker = start_worker(subprocess_environ(harness.settings, url), "--seconds", "60")

        wait_until(lambda: harness.fake_linkedin.create_requests == 1)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)

        clock.set(datetime.now(UTC) + LEASE + timedelta(minutes=1))
        publisher = Publisher(harness.services, max_workers=2)
        publisher.recover()
        publisher.run_once()
        publisher.shutdown()

        assert load_post(harness, post_id).status == PostStatus.OUTCOME_UNKNOWN
        assert harness.fake_linkedin.create_requests == 1
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
        harness.close()


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="needs PostgreSQL (TEST_DATABASE_URL)")
def test_four_workers_publish_each_post_once(shared_database):
    url, engine = shared_database
    clock = FixedClock(datetime.now(UTC))
    harness = make_harness(engine, clock=clock, with_openai=False)
    workers = []
    try:
        connect(harness)
        post_ids = [approved_post(harness, f"Burst post number {n}") for n in range(300)]
        environ = subprocess_environ(harness.settings, url)

        workers = [start_worker(environ, "--seconds", "25", "--idle-exit", "2") for _ in range(4)]
        for worker in workers:
            worker.wait(timeout=40)

        fake = harness.fake_linkedin
        assert fake.create_requests == len(post_ids)
        assert len({post.commentary for post in fake.posts}) == len(post_ids)
        with harness.services.sessions() as session:
            rows = session.query(Post).filter(Post.id.in_(post_ids)).all()
            assert {row.status for row in rows} == {PostStatus.PUBLISHED}
            assert len({row.linkedin_post_urn for row in rows}) == len(post_ids)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
        harness.close()
