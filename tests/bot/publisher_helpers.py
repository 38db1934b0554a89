"""Helpers for the publisher's tests: a connected owner, approved posts, worker subprocesses.

`connect` stores a LinkedIn connection whose access token the FakeLinkedIn issued, and
`approved_post` creates and approves a post through the real lifecycle. Running this module
(`python -m tests.bot.publisher_helpers --seconds N`) runs Publisher passes in a loop with
the settings in the environment, as a worker process would, until N seconds passed.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timedelta

from bot.app import build_services_for_app
from bot.publisher import Publisher
from bot.settings import load_settings
from linkedin.client import PERSON_URN_PREFIX
from storage import posts as lifecycle
from storage.connections import StoredConnection, save_connection
from storage.db import transaction
from storage.models import Post
from tests.fakes.linkedin_server import ALL_SCOPES

TEAM = "T1"
OWNER = "U1"


def connect(
    harness,
    *,
    user_id: str = OWNER,
    organization_ids: tuple[str, ...] = (),
    expires_in: timedelta = timedelta(days=60),
    refresh_token: str | None = None,
    refresh_expires_in: timedelta | None = None,
) -> str:
    """Store a connection for `user_id` with a fresh fake access token. Return the token."""
    fake = harness.fake_linkedin
    token = fake.issue_access_token(lifetime=int(expires_in.total_seconds()))
    now = harness.clock()
    connection = StoredConnection(
        team_id=TEAM,
        user_id=user_id,
        member_urn=f"{PERSON_URN_PREFIX}{fake.login_member_id}",
        member_name="Ada Lovelace",
        access_token=token,
        access_token_expires_at=now + expires_in,
        refresh_token=refresh_token,
        refresh_token_expires_at=now + refresh_expires_in if refresh_expires_in else None,
        scopes=frozenset(ALL_SCOPES),
        organization_ids=organization_ids,
    )
    with transaction(harness.services.sessions) as session:
        save_connection(session, harness.services.vault, connection, now)
    return token


def approved_post(
    harness,
    text: str,
    *,
    user_id: str = OWNER,
    organization_id: str | None = None,
    organization_ids: tuple[str, ...] | None = None,
    scheduled_at: datetime | None = None,
) -> int:
    """Create a post and approve it as its owner (for now when `scheduled_at` is None)."""
    services = harness.services
    now = harness.clock()
    rights = lifecycle.PostingRights(
        scopes=frozenset(ALL_SCOPES),
        organization_ids=organization_ids if organization_ids is not None else ((organization_id,) if organization_id else ()),
    )
    with transaction(services.sessions) as session:
        post = lifecycle.create_draft(session, team_id=TEAM, owner_user_id=user_id, now=now, text=text, author_organization_id=organization_id)
        lifecycle.approve(session, post, team_id=TEAM, actor_user_id=user_id, expected_revision=post.revision, scheduled_at=scheduled_at, rights=rights, now=now)
        return post.id


def load_post(harness, post_id: int) -> Post:
    with harness.services.sessions() as session:
        post = session.get(Post, post_id)
        session.expunge(post)
        return post


def dms_to(harness, user_id: str = OWNER) -> list[dict]:
    """Messages the bot posted in the DM with `user_id`."""
    channel = harness.fake_slack.dm_channel_id(user_id)
    return [m for m in harness.fake_slack.messages(channel) if m["method"] == "chat.postMessage"]


def action_ids(message: dict) -> list[str]:
    return [
        element.get("action_id")
        for block in message.get("blocks") or []
        if block.get("type") == "actions"
        for element in block.get("elements", [])
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run Publisher passes in a loop, as a worker does.")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to keep running, in seconds")
    parser.add_argument("--idle-exit", type=float, default=0.0, help="exit after this many seconds without a due post (0: never)")
    args = parser.parse_args(argv)

    settings = load_settings(dotenv_path=None)
    services = build_services_for_app(settings)
    publisher = Publisher(services)
    deadline = time.monotonic() + args.seconds
    last_work = time.monotonic()
    print("ready", flush=True)
    while time.monotonic() < deadline:
        counts = publisher.run_once()
        if counts.claimed:
            last_work = time.monotonic()
        elif args.idle_exit and time.monotonic() - last_work > args.idle_exit:
            break
        time.sleep(0.05)
    publisher.shutdown()


if __name__ == "__main__":
    main()
