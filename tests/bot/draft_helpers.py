"""Helpers for the drafting tests: connect a user, read cards and click their buttons."""

from __future__ import annotations

from datetime import timedelta

from storage.connections import StoredConnection, save_connection
from storage.db import transaction
from storage.models import Post
from tests.fakes.slack_requests import block_action

USER = "U1"
OTHER_USER = "U2"


def connect(harness, user_id: str = USER, organization_ids: tuple[str, ...] = ()) -> None:
    """Store a LinkedIn connection that may post as the member (and for the given pages)."""
    scopes = {"openid", "profile", "w_member_social"} | ({"w_organization_social"} if organization_ids else set())
    now = harness.clock()
    connection = StoredConnection(
        team_id="T1", user_id=user_id, member_urn="urn:li:person:abc123", member_name="Ada Lovelace",
        access_token="AQV-test-access", access_token_expires_at=now + timedelta(days=60),
        refresh_token=None, refresh_token_expires_at=None, scopes=frozenset(scopes), organization_ids=organization_ids,
    )
    with transaction(harness.services.sessions) as session:
        save_connection(session, harness.services.vault, connection, now)


def load_post(harness, post_id: int) -> Post | None:
    with harness.services.sessions() as session:
        post = session.get(Post, post_id)
        if post is not None:
            post.images  # noqa: B018 - load before the session closes
            post.turns  # noqa: B018
            session.expunge(post)
        return post


def only_post_id(harness) -> int:
    with harness.services.sessions() as session:
        ids = list(session.scalars(Post.__table__.select().with_only_columns(Post.id)))
    assert len(ids) == 1, f"expected one post, found {ids}"
    return ids[0]


def card_blocks(harness, post: Post) -> list[dict]:
    message = harness.fake_slack.message(post.channel_id, post.card_ts)
    assert message is not None, "the post has no card message"
    return message["blocks"]


def find_element(blocks: list[dict], action_id: str) -> dict:
    for block in blocks:
        for element in block.get("elements", []) + ([block["accessory"]] if "accessory" in block else []):
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return element
    raise AssertionError(f"no element {action_id} in the card")


def click(harness, post: Post, action_id: str, *, value: str | None = None, user_id: str = USER, date: str | None = None,
          time: str | None = None, author: str | None = None, blocks: list[dict] | None = None) -> tuple[int, str]:
    """Click a card button as `user_id`, with the pickers set as given. Returns (status, response_url)."""
    blocks = blocks if blocks is not None else card_blocks(harness, post)
    value = value if value is not None else find_element(blocks, action_id)["value"]
    state: dict = {"when": {}}
    if date:
        state["when"]["card_date"] = {"type": "datepicker", "selected_date": date}
    if time:
        state["when"]["card_time"] = {"type": "timepicker", "selected_time": time}
    if author:
        state["when"]["card_author"] = {"type": "static_select", "selected_option": {"value": author}}
    response_url = harness.fake_slack.new_response_url()
    request = block_action(action_id, value, user_id=user_id, channel_id=post.channel_id, message_ts=post.card_ts,
                           thread_ts=post.thread_ts, message_blocks=blocks, state_values=state, response_url=response_url)
    status, _headers, _body = harness.post(request)
    return status, response_url


def ephemeral_texts(harness, user_id: str = USER) -> list[str]:
    return [m["text"] for m in harness.fake_slack.ephemerals() if m["user"] == user_id]
