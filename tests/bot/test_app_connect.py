"""The LinkedIn connect flow, from /linkedin connect to the callback, through the real WSGI app."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from storage.connections import load_connection
from storage.models import LinkedInConnection, OAuthState, Post, PostStatus
from tests.bot import app_helpers
from tests.bot.app_helpers import make_harness
from tests.fakes import slack_requests
from tests.fakes.linkedin_server import ALL_SCOPES

app_harness = app_helpers.app_harness


def connect_link(harness, user_id: str = "U1") -> str:
    """Run /linkedin connect and return the link button's URL."""
    response_url = harness.fake_slack.new_response_url()
    status, _, _ = harness.post(slack_requests.slash_command("connect", user_id=user_id, response_url=response_url))
    assert status == 200
    [reply] = harness.fake_slack.responses(response_url)
    buttons = [block["accessory"] for block in reply["blocks"] if block.get("accessory", {}).get("url")]
    return buttons[0]["url"]


def authorize(harness, link: str) -> str:
    """Follow the link to LinkedIn and return the callback URL LinkedIn redirects back to."""
    status, headers, _ = harness.get(link)
    assert status == 302
    authorize_url = headers["location"]
    assert authorize_url.startswith(harness.fake_linkedin.oauth_url + "/authorization?")
    answer = harness.fake_linkedin_session.get(authorize_url, allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    return answer.headers["Location"]


@pytest.fixture
def harness(app_harness):
    import requests

    app_harness.fake_linkedin_session = requests.Session()
    yield app_harness


def stored_rows(harness):
    with harness.services.sessions() as session:
        return session.scalars(select(LinkedInConnection)).all()


def test_connect_stores_encrypted_connection(harness):
    harness.fake_linkedin.add_organization("2414183", "Acme Corp")
    callback = authorize(harness, connect_link(harness))

    status, headers, body = harness.get(callback)
    assert status == 200, body
    assert b"Connected" in body

    [row] = stored_rows(harness)
    assert row.member_name == "Ada Lovelace"
    assert row.organization_ids == ["2414183"]
    issued = harness.fake_linkedin.issued_tokens
    assert all(token.encode() not in row.access_token for token in issued)

    with harness.services.sessions() as session:
        stored = load_connection(session, harness.services.vault, "T1", "U1")
    assert stored.access_token in issued

    harness.run_tasks()
    home = harness.fake_slack.home_view("U1")
    text = str(home["blocks"])
    assert "Connected as *Ada Lovelace*" in text
    assert "Acme Corp" in text
    dms = harness.fake_slack.messages(harness.fake_slack.dm_channel_id("U1"))
    assert any("is connected" in message["text"] for message in dms)


def test_connect_resumes_posts_held_for_reconnect(harness):
    now = harness.clock()
    with harness.services.sessions.begin() as session:
        session.add(Post(team_id="T1", owner_user_id="U1", text="held", status=PostStatus.NEEDS_RECONNECT.value,
                         scheduled_at=now + timedelta(hours=1), created_at=now, updated_at=now, revision=1, attempts=0))
    status, _, _ = harness.get(authorize(harness, connect_link(harness)))
    assert status == 200
    with harness.services.sessions() as session:
        assert session.scalar(select(Post.status)) == PostStatus.SCHEDULED.value


def test_connect_cookie_is_httponly_lax(harness):
    status, headers, _ = harness.get(connect_link(harness))
    assert status == 302
    cookie = headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # PUBLIC_URL is http in this harness


def test_connect_state_stored_as_hash_only(harness):
    status, headers, _ = harness.get(connect_link(harness))
    state = parse_qs(urlsplit(headers["location"]).query)["state"][0]
    with harness.services.sessions() as session:
        row = session.scalar(select(OAuthState))
    assert row.state_hash != state
    assert state not in row.browser_hash


def assert_nothing_stored(harness, status, body, expected_words):
    assert status >= 400
    assert expected_words.encode() in body
    assert b"/linkedin connect" in body
    assert stored_rows(harness) == []


def test_callback_missing_state(harness):
    callback = authorize(harness, connect_link(harness))
    split = urlsplit(callback)
    query = "&".join(part for part in split.query.split("&") if not part.startswith("state="))
    status, _, body = harness.get(f"{split.path}?{query}")
    assert_nothing_stored(harness, status, body, "no state")


def test_callback_unknown_state(harness):
    callback = authorize(harness, connect_link(harness))
    code = parse_qs(urlsplit(callback).query)["code"][0]
    status, _, body = harness.get(f"/linkedin/callback?code={code}&state=unknown-state")
    assert_nothing_stored(harness, status, body, "not known")


def test_callback_tampered_state(harness):
    callback = authorize(harness, connect_link(harness))
    query = parse_qs(urlsplit(callback).query)
    tampered = query["state"][0][:-2] + ("AA" if not query["state"][0].endswith("AA") else "BB")
    status, _, body = harness.get(f"/linkedin/callback?code={query['code'][0]}&state={tampered}")
    assert_nothing_stored(harness, status, body, "not known")


def test_callback_expired_state(harness):
    callback = authorize(harness, connect_link(harness))
    harness.clock.advance(minutes=11)
    status, _, body = harness.get(callback)
    assert_nothing_stored(harness, status, body, "longer than 10 minutes")


def test_callback_reused_state(harness):
    link = connect_link(harness)
    callback = authorize(harness, link)
    harness.fake_linkedin.script("oauth.accessToken", {"status": 400, "body": {"error": "invalid_request", "error_description": "authorization code not found"}})
    first, _, _ = harness.get(callback)
    assert first == 502
    status, _, body = harness.get(callback)
    assert_nothing_stored(harness, status, body, "already used")


def test_callback_without_cookie(harness):
    callback = authorize(harness, connect_link(harness))
    status, _, body = harness.get(callback, use_cookies=False)
    assert_nothing_stored(harness, status, body, "browser where you started")


def test_expired_connect_link(harness):
    link = connect_link(harness)
    harness.clock.advance(minutes=11)
    status, _, body = harness.get(link)
    assert status == 400
    assert b"expired" in body
    with harness.services.sessions() as session:
        assert session.scalar(select(OAuthState)) is None


def test_tampered_connect_link(harness):
    link = connect_link(harness, user_id="U1")
    status, _, body = harness.get(link.replace("t=", "t=x"))
    assert status == 400
    assert b"not valid" in body


@pytest.mark.parametrize("error", ["user_cancelled_login", "user_cancelled_authorize"])
def test_callback_cancelled(db_engine, clock, error):
    harness = make_harness(db_engine, clock=clock, linkedin_options={"authorize_error": error})
    try:
        import requests

        harness.fake_linkedin_session = requests.Session()
        callback = authorize(harness, connect_link(harness))
        status, _, body = harness.get(callback)
        assert_nothing_stored(harness, status, body, "nothing was connected")
    finally:
        harness.close()


def test_callback_token_exchange_failure(harness):
    callback = authorize(harness, connect_link(harness))
    harness.fake_linkedin.script("oauth.accessToken", {"status": 500, "body": {"message": "Internal error"}})
    status, _, body = harness.get(callback)
    assert_nothing_stored(harness, status, body, "did not accept")


def test_grant_without_member_social_is_refused(db_engine, clock):
    granted = [scope for scope in ALL_SCOPES if scope != "w_member_social"]
    harness = make_harness(db_engine, clock=clock, linkedin_options={"granted_scopes": granted})
    try:
        import requests

        harness.fake_linkedin_session = requests.Session()
        status, _, body = harness.get(authorize(harness, connect_link(harness)))
        assert_nothing_stored(harness, status, body, "w_member_social")
        assert harness.fake_linkedin.revoked_tokens, "the refused grant is revoked"
    finally:
        harness.close()


def test_grant_without_page_scopes_connects_personal_only(db_engine, clock):
    granted = ["r_basicprofile", "w_member_social"]
    harness = make_harness(db_engine, clock=clock, linkedin_options={"granted_scopes": granted})
    try:
        import requests

        harness.fake_linkedin_session = requests.Session()
        status, _, body = harness.get(authorize(harness, connect_link(harness)))
        assert status == 200
        assert b"own profile only" in body
        [row] = stored_rows(harness)
        assert row.organization_ids == []
    finally:
        harness.close()


def test_callback_replay_after_success_changes_nothing(harness):
    callback = authorize(harness, connect_link(harness))
    first, _, _ = harness.get(callback)
    assert first == 200
    [before] = stored_rows(harness)

    status, _, body = harness.get(callback)

    assert status == 400
    assert b"already used" in body
    [after] = stored_rows(harness)
    assert after.access_token == before.access_token


def test_connect_cookie_secure_on_https(db_engine, clock):
    harness = make_harness(db_engine, clock=clock, public_url="https://companycore.test")
    try:
        status, headers, _ = harness.get(connect_link(harness))
        assert status == 302
        assert "Secure" in headers["set-cookie"]
        assert "redirect_uri=https%3A%2F%2Fcompanycore.test%2Flinkedin%2Fcallback" in headers["location"]
    finally:
        harness.close()


def test_link_of_one_user_connects_only_that_user(harness):
    callback = authorize(harness, connect_link(harness, user_id="U7"))
    status, _, _ = harness.get(callback)
    assert status == 200
    [row] = stored_rows(harness)
    assert row.user_id == "U7"
