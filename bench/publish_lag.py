"""Benchmark: how late after its scheduled time a post reaches LinkedIn, with one worker.

Usage:
    python bench/publish_lag.py --database-url postgresql://postgres@127.0.0.1:5432/test

It creates a scratch PostgreSQL database, connects one owner and approves `--posts` posts
through storage.posts, spread round-robin over `--minutes` consecutive whole minutes (the
times a user can choose on the card), the first at least 20 s ahead. One `companycore
worker` process (the Procfile's worker line) publishes them to a FakeLinkedIn in this
process. The lag of a post is the time LinkedIn's fake received its create minus its
scheduled_at. Target: p99 under 5 seconds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

# `python bench/publish_lag.py` puts bench/ first on sys.path, but the imports below need the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common

MAX_P99_SECONDS = 5.0


def build_schedule(count: int, minutes: int) -> list[tuple[str, datetime]]:
    first = common.next_whole_minute(datetime.now(UTC), at_least=timedelta(seconds=20))
    return [(f"Scheduled benchmark post {index}", first + timedelta(minutes=index % minutes)) for index in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=common.DEFAULT_DATABASE_URL, help="PostgreSQL server URL to create a scratch database on")
    parser.add_argument("--posts", type=int, default=100, help="approved posts to publish")
    parser.add_argument("--minutes", type=int, default=3, help="consecutive whole minutes the posts are scheduled at")
    parser.add_argument("--timeout", type=float, default=60, help="seconds to wait after the last scheduled time")
    args = parser.parse_args()

    logs = Path(tempfile.mkdtemp(prefix="cc_lag_"))
    schedule = build_schedule(args.posts, args.minutes)
    scheduled_at = dict(schedule)
    with common.PublishRun(args.database_url, workers=1, log_dir=logs) as run:
        run.seed(schedule)
        run.start_workers()
        last = max(scheduled_at.values())
        print(f"{args.posts} posts scheduled at {sorted({t.strftime('%H:%M:%S') for t in scheduled_at.values()})} UTC; waiting")
        deadline = (last - datetime.now(UTC)).total_seconds() + args.timeout
        common.wait_until(lambda: run.fake_linkedin.create_requests >= args.posts, timeout=deadline, interval=0.2)
        time.sleep(1)  # a create past the expected count would show up here
        created = run.created_times()
        creates = run.fake_linkedin.create_requests

    lags = [min(times) - scheduled_at[text].timestamp() for text, times in created.items()]
    print(f"creates received: {creates}; posts on LinkedIn's fake: {len(created)} of {args.posts}; sent twice: {sum(len(t) > 1 for t in created.values())}")
    if not lags:
        print(f"no post was published; worker log: {logs}")
        return
    p50, p99 = common.percentile(lags, 0.5), common.percentile(lags, 0.99)
    print(f"publish lag: min {min(lags):.2f} s  p50 {p50:.2f} s  p99 {p99:.2f} s  max {max(lags):.2f} s")
    met = p99 < MAX_P99_SECONDS and len(created) == args.posts
    print(f"target: p99 < {MAX_P99_SECONDS:.0f} s with every post published -> {'met' if met else 'MISSED'}")
    print(f"worker log: {logs}")


if __name__ == "__main__":
    main()
