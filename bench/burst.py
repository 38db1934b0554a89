"""Benchmark: 1,000 posts due in the same minute, four workers, a LinkedIn that takes 200 ms per create.

Usage:
    python bench/burst.py --database-url postgresql://postgres@127.0.0.1:5432/test

It creates a scratch PostgreSQL database, connects one owner and approves `--posts` posts
through storage.posts, all scheduled for the same whole minute at least 30 s ahead. Then
`--workers` `companycore worker` processes (the Procfile's worker line) publish them to a
FakeLinkedIn in this process that waits `--create-delay` seconds before it answers each
create. Targets: every post published within 60 seconds of its scheduled time, and
LinkedIn's fake received exactly one create per post (create count equals the post count
and every text is present once).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

# `python bench/burst.py` puts bench/ first on sys.path, but the imports below need the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select

from bench import common
from storage.models import Post, PostStatus

MAX_SECONDS = 60.0


def count_published(sessions) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Post).where(Post.status == PostStatus.PUBLISHED.value))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=common.DEFAULT_DATABASE_URL, help="PostgreSQL server URL to create a scratch database on")
    parser.add_argument("--posts", type=int, default=1000, help="approved posts, all due in the same minute")
    parser.add_argument("--workers", type=int, default=4, help="`companycore worker` processes")
    parser.add_argument("--create-delay", type=float, default=0.2, help="seconds LinkedIn's fake waits before responding to each create")
    parser.add_argument("--timeout", type=float, default=180, help="seconds after the scheduled time to stop waiting")
    args = parser.parse_args()

    logs = Path(tempfile.mkdtemp(prefix="cc_burst_"))
    due = common.next_whole_minute(datetime.now(UTC), at_least=timedelta(seconds=30))
    texts = [f"Burst benchmark post {index}" for index in range(args.posts)]
    with common.PublishRun(args.database_url, workers=args.workers, route_delays={"posts.create": args.create_delay}, log_dir=logs) as run:
        run.seed([(text, due) for text in texts])
        run.start_workers()
        print(f"{args.posts} posts due at {due:%H:%M:%S} UTC, {args.workers} workers, creates answered after {args.create_delay} s; waiting")
        wait = (due - datetime.now(UTC)).total_seconds() + args.timeout
        common.wait_until(lambda: count_published(run.sessions) >= args.posts, timeout=wait, interval=0.2)
        all_published_after = (datetime.now(UTC) - due).total_seconds()
        published = count_published(run.sessions)
        time.sleep(2)  # a create past the expected count would show up here
        created = run.created_times()
        creates = run.fake_linkedin.create_requests

    last_create = max((max(times) for times in created.values()), default=due.timestamp()) - due.timestamp()
    once = sum(len(created.get(text, ())) == 1 for text in texts)
    print(f"published in the database: {published} of {args.posts}, all within {all_published_after:.1f} s of the scheduled time (polled every 0.2 s)")
    print(f"last create answered {last_create:.1f} s after the scheduled time")
    print(f"creates received: {creates}; texts present exactly once: {once} of {args.posts}; other texts: {len(set(created) - set(texts))}")
    met = published == args.posts and all_published_after <= MAX_SECONDS and creates == args.posts and once == args.posts
    print(f"target: all published within {MAX_SECONDS:.0f} s, each exactly once -> {'met' if met else 'MISSED'}")
    print(f"worker logs: {logs}")


if __name__ == "__main__":
    main()
