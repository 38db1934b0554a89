"""Benchmark: how fast the web stack acknowledges a slash command and an Approve click.

Usage:
    python bench/ack_latency.py --database-url postgresql://postgres@127.0.0.1:5432/test

It starts a FakeSlack and a FakeLinkedIn in this process, creates a scratch PostgreSQL
database, and stores `--users` connected users and one draft per Approve click. It serves
two apps with the Procfile's web command (gunicorn, 2 workers of 8 threads), bound to
127.0.0.1:

- the product, `bot.wsgi:application`, with the Procfile's options, and the Procfile's
  `companycore worker`, which does the work the web processes store;
- bench/minimal_app.py, a Bolt app that only acknowledges, with the same options except
  the product's gunicorn config file, whose hooks build the product's app.

Then `--concurrency` clients send signed requests to each app in turn: warm-up requests
first, then `--requests` measured ones. Each Approve click approves a fresh draft with the
card's date and time pickers filled in, the path a user's first click takes. The latency
is the client's time from sending a request to reading the 200 response. Bolt sends that
response as soon as the listener calls ack(), which the product does right after storing
the request as a durable task; the worker does the rest.
Targets: p99 under 100 ms and at most 1.5 times the minimal app's p99.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

# `python bench/ack_latency.py` puts bench/ first on sys.path, but the imports below need the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests
from sqlalchemy import func, select

from bench import common
from bot.views.draft_card import APPROVE_SCHEDULE, DATE, TIME
from storage import posts as lifecycle
from storage.db import transaction
from storage.models import Post, PostStatus
from tests.fakes.linkedin_server import FakeLinkedIn
from tests.fakes.slack_requests import block_action, sign, slash_command
from tests.fakes.slack_server import FakeSlack

MAX_P99_MS = 100
MAX_RATIO = 1.5


def user_ids(count: int) -> list[str]:
    return [f"U{index + 1}" for index in range(count)]


def seed_drafts(sessions, users: list[str], count: int) -> list[tuple[int, str]]:
    """Create `count` drafts spread over `users`, so no Home lists thousands. Return (id, owner) pairs."""
    now = datetime.now(UTC)
    drafts = []
    with transaction(sessions) as session:
        for index in range(count):
            owner = users[index % len(users)]
            post = lifecycle.create_draft(session, team_id=common.TEAM, owner_user_id=owner, now=now, text=f"Benchmark draft {index}")
            drafts.append((post.id, owner))
    return drafts


def slash_builder(fake_slack: FakeSlack, users: list[str]):
    def build(index: int) -> tuple[bytes, str]:
        return slash_command("status", user_id=users[index % len(users)], team_id=common.TEAM, response_url=fake_slack.new_response_url())

    return build


def approve_builder(fake_slack: FakeSlack, drafts: list[tuple[int, str]]):
    """Build its owner's click on Approve & schedule of draft `drafts[i]`, three days ahead at 10:00."""
    day = (date.today() + timedelta(days=3)).isoformat()
    pickers = {"card_schedule_1": {DATE: {"type": "datepicker", "selected_date": day}, TIME: {"type": "timepicker", "selected_time": "10:00"}}}

    def build(index: int) -> tuple[bytes, str]:
        post_id, owner = drafts[index]
        return block_action(
            APPROVE_SCHEDULE, f"{post_id}:1", user_id=owner, team_id=common.TEAM, block_id="card_actions_1",
            state_values=pickers, response_url=fake_slack.new_response_url(),
        )

    return build


def send_load(url: str, build, indexes: range, concurrency: int, timeout: float) -> tuple[list[float], int]:
    """POST one signed request per index from `concurrency` threads. Return (latencies in s, failures)."""
    pending = iter(indexes)
    lock = threading.Lock()
    latencies: list[float] = []
    failures = itertools.count()
    deadline = time.monotonic() + timeout

    def client() -> None:
        session = requests.Session()
        while time.monotonic() < deadline:
            with lock:
                index = next(pending, None)
            if index is None:
                break
            body, content_type = build(index)
            headers = sign(common.SIGNING_SECRET, body, content_type=content_type)
            started = time.perf_counter()
            response = session.post(url, data=body, headers=headers, timeout=10)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
            if response.status_code != 200:
                next(failures)
        session.close()

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, next(failures)


def report(name: str, latencies: list[float], failures: int) -> float:
    p50 = common.percentile(latencies, 0.5) * 1000
    p99 = common.percentile(latencies, 0.99) * 1000
    print(f"  {name:<22} n={len(latencies):>5}  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  max {max(latencies) * 1000:6.1f} ms  non-200: {failures}")
    return p99


def start_apps(apps: dict, workers: list, fake_slack, fake_linkedin, database_url: str, key: str, logs: Path, *, nice_worker: bool) -> None:
    """Start the product and the minimal app under gunicorn into `apps` ({name: (url, process)}).

    The product also gets the Procfile's worker process, into `workers`, because its web
    processes only store the work after each acknowledgement and the worker does it.
    Each process is added before any wait, so the caller stops it even when a wait fails.
    """
    for name, module, keep_config in (("companycore", "bot.wsgi:application", True), ("minimal Bolt app", "bench.minimal_app:application", False)):
        port = common.free_port()
        environ = common.app_environ(fake_slack, fake_linkedin, database_url=database_url, encryption_key=key, port=port)
        process = common.start_process(common.gunicorn_command(module, port, keep_config=keep_config), environ, logs / f"{module.split(':')[0]}.log")
        apps[name] = (f"http://{common.HOST}:{port}", process)
        if keep_config:
            # In production the worker runs on its own machine, a separate dyno or container.
            # Here it shares the two cores, so it runs at the lowest CPU priority to leave the
            # web processes the share they would have alone.
            worker = ["nice", "-n", "19", *common.worker_command()] if nice_worker else common.worker_command()
            workers.append(common.start_process(worker, environ, logs / "worker.log"))
    for url, process in apps.values():
        common.wait_for_http(url + "/healthz", process=process)


def count_scheduled(sessions) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Post).where(Post.status == PostStatus.SCHEDULED.value))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=common.DEFAULT_DATABASE_URL, help="PostgreSQL server URL to create a scratch database on")
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per app and request kind")
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured requests per app and request kind, sent first")
    parser.add_argument("--concurrency", type=int, default=20, help="concurrent clients")
    parser.add_argument("--users", type=int, default=50, help="connected users the requests come from, round-robin")
    parser.add_argument("--timeout", type=float, default=300, help="seconds after which a load run stops sending")
    parser.add_argument("--worker-at-normal-priority", action="store_true", help="run the worker without `nice -n 19`, competing for the same cores as the web processes")
    args = parser.parse_args()

    logs = Path(tempfile.mkdtemp(prefix="cc_ack_"))
    database_url, drop = common.create_scratch_database(args.database_url)
    key = common.new_encryption_key()
    engine, sessions, vault = common.open_database(database_url, key)
    apps = {}
    workers = []
    with FakeSlack() as fake_slack, FakeLinkedIn() as fake_linkedin:
        try:
            users = user_ids(args.users)
            for user_id in users:
                common.seed_connection(sessions, vault, fake_linkedin, datetime.now(UTC), user_id=user_id)
            per_run = args.warmup + args.requests
            drafts = seed_drafts(sessions, users, per_run)
            start_apps(apps, workers, fake_slack, fake_linkedin, database_url, key, logs, nice_worker=not args.worker_at_normal_priority)
            run(apps, fake_slack, users, drafts, args)

            # Every measured and warm-up click of the product must have approved its draft.
            started = time.perf_counter()
            common.wait_until(lambda: count_scheduled(sessions) >= per_run, timeout=600, interval=0.5)
            print(f"drafts approved by the product's clicks: {count_scheduled(sessions)} of {per_run}, "
                  f"the worker's backlog done {time.perf_counter() - started:.0f} s after the last click")
        finally:
            for process in [process for _url, process in apps.values()] + workers:
                common.stop_process(process)
            engine.dispose()
            drop()
    print(f"gunicorn logs: {logs}")


def run(apps: dict, fake_slack: FakeSlack, users: list[str], drafts: list[tuple[int, str]], args) -> None:
    kinds = {"/linkedin status": slash_builder(fake_slack, users), "Approve click": approve_builder(fake_slack, drafts)}
    warm = range(args.warmup)
    measured = range(args.warmup, args.warmup + args.requests)
    for kind, build in kinds.items():
        print(f"{kind}, {args.concurrency} concurrent clients:")
        p99s = {}
        for name, (url, _process) in apps.items():
            send_load(url + "/slack/events", build, warm, args.concurrency, args.timeout)
            latencies, failures = send_load(url + "/slack/events", build, measured, args.concurrency, args.timeout)
            p99s[name] = report(name, latencies, failures)
        product, minimal = p99s["companycore"], p99s["minimal Bolt app"]
        met = product < MAX_P99_MS and product <= MAX_RATIO * minimal
        print(f"  p99 ratio {product / minimal:.2f} (targets: p99 < {MAX_P99_MS} ms, ratio <= {MAX_RATIO}) -> {'met' if met else 'MISSED'}")


if __name__ == "__main__":
    main()
