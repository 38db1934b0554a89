"""Benchmark: one claiming pass with 1,000 and with 1,000,000 stored posts, few of them due.

Usage:
    python bench/claim_scale.py --database-url postgresql://postgres@127.0.0.1:5432/test

It creates a scratch database (PostgreSQL) or file (SQLite), fills `posts` with published
rows generated inside the database plus 10 due scheduled posts, and times `claim_due`
(median of several passes, each rolled back so every pass sees the same rows).
The target is that the large table costs at most twice the small one.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from storage import posts
from storage.db import make_engine, make_session_factory, migrate

NOW = datetime(2027, 1, 1, 12, tzinfo=UTC)
DUE = 10


def fill(engine, count: int) -> None:
    """Insert `count` published posts and DUE approved, due posts."""
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM posts"))
        if engine.dialect.name == "postgresql":
            series = "generate_series(1, :n) AS g"
        else:
            series = "(WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < :n) SELECT g FROM s)"
        connection.execute(
            text(
                "INSERT INTO posts (team_id, owner_user_id, visibility, text, media_suggestions, status, "
                "scheduled_at, revision, source, attempts, created_at, updated_at) "
                f"SELECT 'T1', 'U' || (g % 500), 'PUBLIC', 'published post', '[]', 'published', "
                f":old, 1, 'manual', 1, :old, :old FROM {series}"
            ),
            {"n": count, "old": (NOW - timedelta(days=30)).replace(tzinfo=None) if engine.dialect.name == "sqlite" else NOW - timedelta(days=30)},
        )
    factory = make_session_factory(engine)
    with factory.begin() as session:
        for index in range(DUE):
            post = posts.create_draft(session, team_id="T1", owner_user_id="U1", now=NOW - timedelta(hours=1), text=f"due {index}")
            posts.approve(
                session, post, team_id="T1", actor_user_id="U1", expected_revision=post.revision,
                scheduled_at=NOW - timedelta(minutes=1) + timedelta(seconds=index), rights=posts.PostingRights(frozenset({"w_member_social"})),
                now=NOW - timedelta(hours=1),
            )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE posts" if engine.dialect.name == "postgresql" else "ANALYZE"))


def time_claim(engine, passes: int) -> float:
    factory = make_session_factory(engine)
    samples = []
    for _ in range(passes):
        with factory() as session:
            started = time.perf_counter()
            result = posts.claim_due(session, now=NOW, lease=timedelta(minutes=5), limit=100, grace=timedelta(hours=1))
            samples.append(time.perf_counter() - started)
            assert len(result.claimed) == DUE, result
            session.rollback()
    return statistics.median(samples)


def scratch_engine(database_url: str):
    if not database_url.startswith("postgres"):
        path = tempfile.mkdtemp() + "/bench.db"
        return make_engine(f"sqlite:///{path}"), lambda: None
    url = database_url.replace("postgresql://", "postgresql+psycopg://", 1).replace("postgres://", "postgresql+psycopg://", 1)
    name = f"cc_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return make_engine(url.rsplit("/", 1)[0] + "/" + name), drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="sqlite://", help="PostgreSQL URL of a server to create a scratch database on; default SQLite")
    parser.add_argument("--sizes", default="1000,1000000", help="comma-separated table sizes")
    parser.add_argument("--passes", type=int, default=15, help="claiming passes per size; the median is reported")
    args = parser.parse_args()

    engine, drop = scratch_engine(args.database_url)
    try:
        migrate(engine)
        results = {}
        for size in (int(s) for s in args.sizes.split(",")):
            started = time.perf_counter()
            fill(engine, size)
            print(f"filled {size:,} posts in {time.perf_counter() - started:.1f} s")
            results[size] = time_claim(engine, args.passes)
            print(f"{engine.dialect.name}: {size:>9,} stored posts: claim pass median {results[size] * 1000:.2f} ms")
        sizes = sorted(results)
        ratio = results[sizes[-1]] / results[sizes[0]]
        print(f"ratio largest/smallest: {ratio:.2f} (target: at most 2.00) -> {'met' if ratio <= 2 else 'MISSED'}")
    finally:
        engine.dispose()
        drop()


if __name__ == "__main__":
    main()
