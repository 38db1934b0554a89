"""LinkedIn's OAuth 2.0 authorization code flow: authorize, exchange, refresh, introspect, revoke.

The flow:
1. Send the member to `OAuthClient.authorization_url(redirect_uri, state)`.
2. On the callback, `parse_callback(query, expected_state)` checks the state and returns
   the authorization code, or raises OAuthError if the member cancelled.
3. `exchange_code(code, redirect_uri)` returns a TokenSet. Compare `TokenSet.scopes` with
   REQUESTED_SCOPES, because LinkedIn may grant fewer scopes than requested.
4. Before the access token expires, `refresh(refresh_token)` if LinkedIn issued one;
   otherwise the member must connect again.
5. On disconnect, `revoke(access_token)` is best effort and returns False on failure.

This module must never log a token, a client secret or an authorization code, never put
one into an exception, and never invent a token or an expiry that LinkedIn did not send.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import requests

from linkedin.errors import LinkedInError, OAuthError, RefreshTokenInvalid
from linkedin.http import DEFAULT_TIMEOUT, HttpLayer, Timeout, error_from_response

logger = logging.getLogger(__name__)

REQUESTED_SCOPES: tuple[str, ...] = (
    "r_basicprofile",
    "w_member_social",
    "w_organization_social",
    "rw_organization_admin",
    "r_organization_social",
)

# One line per scope, shown to members on the app's transparency page.
SCOPE_PURPOSES: dict[str, str] = {
    "r_basicprofile": "Read your name and member ID, to show which LinkedIn account is connected.",
    "w_member_social": "Publish the posts you approve on your own profile.",
    "w_organization_social": "Publish the posts you approve on the Pages you manage.",
    "rw_organization_admin": "List the Pages where you may post and read their names.",
    "r_organization_social": "Read a Page's recent posts, to check whether a post went out.",
}

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class TokenSet:
    """Tokens from LinkedIn's token endpoint. A None expiry means LinkedIn did not send one."""

    access_token: str = field(repr=False)
    expires_at: datetime | None
    refresh_token: str | None = field(default=None, repr=False)
    refresh_token_expires_at: datetime | None = None
    scopes: frozenset[str] = frozenset()

    def missing_scopes(self, requested: tuple[str, ...] = REQUESTED_SCOPES) -> frozenset[str]:
        """Return the requested scopes that LinkedIn did not grant."""
        return frozenset(requested) - self.scopes


@dataclass(frozen=True)
class TokenInfo:
    """LinkedIn's introspection of a token. Times are aware UTC datetimes or None."""

    active: bool
    status: str | None  # "active", "expired" or "revoked"
    scopes: frozenset[str]
    expires_at: datetime | None
    authorized_at: datetime | None
    created_at: datetime | None
    auth_type: str | None  # "2L", "3L" or "Enterprise_User"


def parse_scopes(value: str | None) -> frozenset[str]:
    """Parse a scope string, which LinkedIn sends comma-separated though documented as spaces."""
    if not value:
        return frozenset()
    return frozenset(part for part in value.replace(",", " ").split() if part)


def parse_callback(params: Mapping[str, str], expected_state: str) -> str:
    """Check the callback's state and return its authorization code.

    Raises OAuthError when the state does not match, when LinkedIn sent an `error` (such as
    `user_cancelled_login` or `user_cancelled_authorize`), or when the code is missing.
    """
    state = params.get("state") or ""

    # The state is checked first, because a callback with a foreign state may be forged.
    if not expected_state or not hmac.compare_digest(state, expected_state):
        raise OAuthError(
            "The OAuth callback's state does not match the one sent. Start connecting again.",
            code="state_mismatch",
        )

    error = params.get("error")
    if error:
        description = params.get("error_description") or "no description"
        raise OAuthError(f"LinkedIn authorization failed ({error}): {description}", code=error)

    code = params.get("code")
    if not code:
        raise OAuthError(
            "The OAuth callback has no authorization code. Start connecting again.",
            code="invalid_request",
        )
    return code


class OAuthClient:
    """Client for LinkedIn's OAuth endpoints under `oauth_url` (such as .../oauth/v2)."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        oauth_url: str,
        session: requests.Session | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        clock: Clock = utc_now,
    ):
        self.client_id = client_id
        self._client_secret = client_secret
        self.oauth_url = oauth_url.rstrip("/")
        self._http = HttpLayer(session, timeout)
        self._clock = clock

    def __repr__(self) -> str:
        return f"OAuthClient(client_id={self.client_id!r}, oauth_url={self.oauth_url!r})"

    def authorization_url(
        self, redirect_uri: str, state: str, scopes: tuple[str, ...] = REQUESTED_SCOPES
    ) -> str:
        """Build the URL where the member grants `scopes`.

        `prompt=none` is deliberately never sent, because it breaks a member's first connect.
        """
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "state": state,
                "scope": " ".join(scopes),
            },
            quote_via=quote,
        )
        return f"{self.oauth_url}/authorization?{query}"

    def exchange_code(self, code: str, redirect_uri: str, now: datetime | None = None) -> TokenSet:
        """Exchange an authorization code for tokens. `redirect_uri` must equal the one sent."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": self.client_id,
            "client_secret": self._client_secret,
            "redirect_uri": redirect_uri,
        }
        body = self._post_token_form(form, secrets=(code,))
        return _token_set(body, now or self._clock())

    def refresh(
        self,
        refresh_token: str,
        now: datetime | None = None,
        refresh_token_expires_at: datetime | None = None,
    ) -> TokenSet:
        """Get a new access token with a refresh token.

        When LinkedIn's response lacks a refresh token, the TokenSet keeps `refresh_token` and
        `refresh_token_expires_at` as passed in. Raises RefreshTokenInvalid when the refresh
        token is invalid, expired or revoked, so the member must connect again.
        """
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": self.client_id,
            "client_secret": self._client_secret,
        }
        body = self._post_token_form(form, secrets=(refresh_token,), refreshing=True)
        return _token_set(
            body,
            now or self._clock(),
            current_refresh_token=refresh_token,
            current_refresh_token_expires_at=refresh_token_expires_at,
        )

    def introspect(self, token: str) -> TokenInfo:
        """Ask LinkedIn whether a token is active, and for its scopes and expiry."""
        form = {"client_id": self.client_id, "client_secret": self._client_secret, "token": token}
        body = self._post_form("introspectToken", form, secrets=(token,))
        return TokenInfo(
            active=body.get("active") is True,
            status=body.get("status") if isinstance(body.get("status"), str) else None,
            scopes=parse_scopes(body.get("scope") if isinstance(body.get("scope"), str) else None),
            expires_at=_epoch_seconds(body.get("expires_at")),
            authorized_at=_epoch_seconds(body.get("authorized_at")),
            created_at=_epoch_seconds(body.get("created_at")),
            auth_type=body.get("auth_type") if isinstance(body.get("auth_type"), str) else None,
        )

    def revoke(self, token: str) -> bool:
        """Ask LinkedIn to revoke a token and return whether it returned 200.

        Best effort: LinkedIn does not document this endpoint, so every LinkedIn or network
        failure is logged and returns False. The caller deletes its stored tokens either way.
        """
        form = {"client_id": self.client_id, "client_secret": self._client_secret, "token": token}
        try:
            self._post_form("revoke", form, secrets=(token,))
        except LinkedInError as exc:
            logger.warning(
                "LinkedIn token revocation failed, continuing: status=%s code=%s",
                exc.status,
                exc.code,
            )
            return False
        return True

    def _post_token_form(
        self, form: dict[str, str], secrets: tuple[str, ...], refreshing: bool = False
    ) -> dict[str, Any]:
        # A token request is not retried: an authorization code is single-use, and a
        # retried refresh could fail after the first one succeeded unseen.
        return self._post_form("accessToken", form, secrets=secrets, refreshing=refreshing)

    def _post_form(
        self,
        endpoint: str,
        form: dict[str, str],
        secrets: tuple[str, ...],
        refreshing: bool = False,
    ) -> dict[str, Any]:
        response = self._http.send_unchecked(
            "POST",
            f"{self.oauth_url}/{endpoint}",
            data=form,
            headers={"Accept": "application/json"},
        )
        if response.status_code >= 300:
            raise _oauth_error(response, (*secrets, self._client_secret), refreshing)

        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            if endpoint == "revoke":
                return {}
            raise OAuthError(
                f"LinkedIn's {endpoint} response is not a JSON object.",
                status=response.status_code,
                code="invalid_response",
            )
        return body


def _token_set(
    body: Mapping[str, Any],
    now: datetime,
    current_refresh_token: str | None = None,
    current_refresh_token_expires_at: datetime | None = None,
) -> TokenSet:
    access_token = body.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise OAuthError(
            "LinkedIn's token response has no access_token.", code="invalid_response", status=200
        )

    refresh_token = body.get("refresh_token")
    if isinstance(refresh_token, str) and refresh_token:
        refresh_token_expires_at = _expiry(body.get("refresh_token_expires_in"), now)
    else:
        # A partial response keeps the stored refresh token rather than erasing it.
        refresh_token = current_refresh_token
        refresh_token_expires_at = _expiry(
            body.get("refresh_token_expires_in"), now
        ) or current_refresh_token_expires_at

    return TokenSet(
        access_token=access_token,
        expires_at=_expiry(body.get("expires_in"), now),
        refresh_token=refresh_token,
        refresh_token_expires_at=refresh_token_expires_at,
        scopes=parse_scopes(body.get("scope") if isinstance(body.get("scope"), str) else None),
    )


def _expiry(seconds: object, now: datetime) -> datetime | None:
    # A missing or malformed lifetime means "unknown", never a guessed far-future date.
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
        return None
    return now + timedelta(seconds=seconds)


def _epoch_seconds(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return datetime.fromtimestamp(value, UTC)


def _oauth_error(
    response: requests.Response, secrets: tuple[str, ...], refreshing: bool
) -> LinkedInError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        # Not an OAuth error body: a 429, a 5xx or a gateway page.
        return error_from_response(response)

    error = body["error"]
    description = _redact(str(body.get("error_description") or "no description"), secrets)
    message = f"LinkedIn's token endpoint rejected the request ({error}): {description}"

    lowered = description.lower()
    if refreshing and (
        error == "invalid_grant"
        or "invalid, expired or revoked" in lowered
        or "refresh token is invalid" in lowered
    ):
        return RefreshTokenInvalid(
            message + ". Connect LinkedIn again.", status=response.status_code, code=error
        )
    return OAuthError(message, status=response.status_code, code=error)


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    # LinkedIn's descriptions are not known to echo secrets, but an exception message must
    # never carry one, so any that appears is cut out.
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text
