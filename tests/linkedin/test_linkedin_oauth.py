"""The OAuth flow against the fake LinkedIn: authorize, exchange, refresh, introspect, revoke."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from linkedin.client import LinkedInClient
from linkedin.errors import OAuthError, ReconnectRequired, RefreshTokenInvalid
from linkedin.oauth import (
    REQUESTED_SCOPES,
    SCOPE_PURPOSES,
    OAuthClient,
    TokenSet,
    parse_callback,
    parse_scopes,
)
from tests.fakes.linkedin_server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from tests.linkedin.conftest import REDIRECT_URI, TIMEOUT, VERSION

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SCOPE_STRING = "r_basicprofile w_member_social w_organization_social rw_organization_admin r_organization_social"


def authorize(oauth: OAuthClient, state: str = "state-123") -> dict[str, str]:
    """Follow the authorization URL like a browser and return the callback's query."""
    response = requests.get(oauth.authorization_url(REDIRECT_URI, state), allow_redirects=False, timeout=2)
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def connect(oauth: OAuthClient) -> TokenSet:
    code = parse_callback(authorize(oauth), "state-123")
    return oauth.exchange_code(code, REDIRECT_URI, now=NOW)


def test_authorization_url_exact_params(oauth):
    url = oauth.authorization_url(REDIRECT_URI, "abc")
    parts = urlsplit(url)
    params = parse_qs(parts.query)

    assert url.startswith(oauth.oauth_url + "/authorization?")
    assert set(params) == {"response_type", "client_id", "redirect_uri", "state", "scope"}
    assert params["response_type"] == ["code"]
    assert params["client_id"] == [DEFAULT_CLIENT_ID]
    assert params["redirect_uri"] == [REDIRECT_URI]
    assert params["state"] == ["abc"]
    assert params["scope"] == [SCOPE_STRING]
    assert "%20" in parts.query
    assert "prompt" not in parts.query


def test_scope_constants():
    assert " ".join(REQUESTED_SCOPES) == SCOPE_STRING
    assert set(SCOPE_PURPOSES) == set(REQUESTED_SCOPES)
    assert all(purpose and "\n" not in purpose for purpose in SCOPE_PURPOSES.values())


def test_code_exchange_returns_tokens(fake, oauth):
    tokens = connect(oauth)

    assert tokens.access_token in fake.issued_tokens
    assert tokens.refresh_token in fake.issued_tokens
    assert len(tokens.access_token) >= 400
    assert tokens.expires_at == NOW + timedelta(seconds=5_184_000)
    assert tokens.refresh_token_expires_at is not None
    assert tokens.scopes == frozenset(REQUESTED_SCOPES)
    assert tokens.missing_scopes() == frozenset()
    assert fake.authorize_requests[0]["scope"] == SCOPE_STRING


def test_code_is_single_use(oauth):
    code = parse_callback(authorize(oauth), "state-123")
    oauth.exchange_code(code, REDIRECT_URI)

    with pytest.raises(OAuthError) as caught:
        oauth.exchange_code(code, REDIRECT_URI)
    assert caught.value.code == "invalid_redirect_uri"
    assert caught.value.status == 400
    assert code not in str(caught.value)


def test_code_exchange_expired_code(fake, oauth):
    code = parse_callback(authorize(oauth), "state-123")
    fake.codes[code].issued_at -= 31 * 60

    with pytest.raises(OAuthError) as caught:
        oauth.exchange_code(code, REDIRECT_URI)
    assert caught.value.code == "invalid_redirect_uri"


def test_code_exchange_redirect_mismatch(oauth):
    code = parse_callback(authorize(oauth), "state-123")
    with pytest.raises(OAuthError) as caught:
        oauth.exchange_code(code, REDIRECT_URI + "/other")
    assert caught.value.code == "invalid_redirect_uri"


def test_wrong_client_secret_not_in_error(fake):
    oauth = OAuthClient(DEFAULT_CLIENT_ID, "wrong-secret-value", fake.oauth_url, timeout=TIMEOUT)
    code = parse_callback(authorize(oauth), "state-123")

    with pytest.raises(OAuthError) as caught:
        oauth.exchange_code(code, REDIRECT_URI)
    assert caught.value.code == "invalid_client"
    assert caught.value.status == 401
    assert "wrong-secret-value" not in str(caught.value)
    assert "wrong-secret-value" not in repr(oauth)


def test_fake_rejects_unregistered_redirect_uri(fake, oauth):
    response = requests.get(
        oauth.authorization_url("http://localhost:9999/elsewhere", "s"), allow_redirects=False, timeout=2
    )
    assert response.status_code == 400
    assert fake.codes == {}


@pytest.mark.parametrize("error", ["user_cancelled_login", "user_cancelled_authorize"])
def test_cancelled_authorization(fake, oauth, error):
    fake.authorize_error = error
    params = authorize(oauth)

    with pytest.raises(OAuthError) as caught:
        parse_callback(params, "state-123")
    assert caught.value.code == error


def test_callback_state_mismatch(oauth):
    params = authorize(oauth, state="state-123")
    with pytest.raises(OAuthError) as caught:
        parse_callback(params, "another-state")
    assert caught.value.code == "state_mismatch"


def test_reduced_scope_grant(fake, oauth):
    fake.granted_scopes = {"r_basicprofile", "w_member_social"}
    tokens = connect(oauth)

    assert tokens.scopes == {"r_basicprofile", "w_member_social"}
    assert tokens.missing_scopes() == {"w_organization_social", "rw_organization_admin", "r_organization_social"}


def test_refresh_returns_new_access_token(fake, oauth):
    tokens = connect(oauth)
    refreshed = oauth.refresh(tokens.refresh_token, now=NOW)

    assert refreshed.access_token != tokens.access_token
    assert refreshed.access_token in fake.issued_tokens
    assert refreshed.refresh_token == tokens.refresh_token
    assert refreshed.expires_at == NOW + timedelta(seconds=5_184_000)


def test_refresh_without_refresh_token_keeps_old(fake, oauth):
    tokens = connect(oauth)
    fake.token_response_omit = {"refresh_token", "refresh_token_expires_in"}
    stored_expiry = NOW + timedelta(days=300)

    refreshed = oauth.refresh(tokens.refresh_token, now=NOW, refresh_token_expires_at=stored_expiry)

    assert refreshed.refresh_token == tokens.refresh_token
    assert refreshed.refresh_token_expires_at == stored_expiry
    assert refreshed.access_token != tokens.access_token


def test_missing_expires_in_means_unknown(fake, oauth):
    fake.token_response_omit = {"expires_in", "refresh_token_expires_in"}
    tokens = connect(oauth)

    assert tokens.expires_at is None
    assert tokens.refresh_token_expires_at is None


def test_no_refresh_token_issued(fake, oauth):
    fake.issue_refresh_tokens = False
    tokens = connect(oauth)

    assert tokens.refresh_token is None
    assert tokens.refresh_token_expires_at is None


def test_revoked_refresh_token_requires_reconnect(fake, oauth):
    tokens = connect(oauth)
    assert oauth.revoke(tokens.refresh_token) is True

    with pytest.raises(RefreshTokenInvalid) as caught:
        oauth.refresh(tokens.refresh_token)
    assert isinstance(caught.value, ReconnectRequired)
    assert caught.value.code == "invalid_request"
    assert tokens.refresh_token not in str(caught.value)
    assert tokens.refresh_token not in repr(caught.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("r_basicprofile,w_member_social", {"r_basicprofile", "w_member_social"}),
        ("r_basicprofile w_member_social", {"r_basicprofile", "w_member_social"}),
        ("r_basicprofile, w_member_social", {"r_basicprofile", "w_member_social"}),
        ("", set()),
        (None, set()),
    ],
)
def test_parse_scopes(value, expected):
    assert parse_scopes(value) == expected


def test_introspect_active_then_revoked(fake, oauth):
    tokens = connect(oauth)

    info = oauth.introspect(tokens.access_token)
    assert info.active is True
    assert info.status == "active"
    assert info.scopes == frozenset(REQUESTED_SCOPES)
    assert info.expires_at is not None

    oauth.revoke(tokens.access_token)
    info = oauth.introspect(tokens.access_token)
    assert info.active is False
    assert info.status == "revoked"


def test_revoked_token_rejected_by_api(fake, oauth):
    tokens = connect(oauth)
    assert oauth.revoke(tokens.access_token) is True
    assert tokens.access_token in fake.revoked_tokens

    client = LinkedInClient(tokens.access_token, fake.api_url, VERSION, timeout=TIMEOUT)
    with pytest.raises(ReconnectRequired) as caught:
        client.get_identity()
    assert caught.value.code == "REVOKED_ACCESS_TOKEN"
    assert caught.value.service_error_code == 65601


def test_revoke_failure_returns_false_and_logs(fake, oauth, caplog):
    token = fake.issue_access_token()
    fake.script("oauth.revoke", {"status": 500, "body": {"message": "Internal Server Error"}})

    with caplog.at_level(logging.WARNING, logger="linkedin"):
        assert oauth.revoke(token) is False

    assert "status=500" in caplog.text
    assert token not in caplog.text
    assert DEFAULT_CLIENT_SECRET not in caplog.text
    assert fake.revoked_tokens == []


def test_revoke_unreachable_returns_false(fake, caplog):
    token = fake.issue_access_token()
    oauth_url = fake.oauth_url
    fake.stop()
    oauth = OAuthClient(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, oauth_url, timeout=TIMEOUT)

    with caplog.at_level(logging.WARNING, logger="linkedin"):
        assert oauth.revoke(token) is False
    assert "revocation failed" in caplog.text
    assert token not in caplog.text


def test_token_set_repr_hides_tokens(oauth):
    tokens = connect(oauth)
    assert tokens.access_token not in repr(tokens)
    assert tokens.refresh_token not in repr(tokens)
    assert "scopes=" in repr(tokens)
