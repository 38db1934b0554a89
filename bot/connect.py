"""Connecting and disconnecting LinkedIn: link tokens, the OAuth round trip, disconnect.

The connect flow:
1. Slack shows a link button to PUBLIC_URL/linkedin/connect?t=TOKEN. The token names the
   workspace and user, carries its issue time, expires after 10 minutes and is signed with
   HMAC-SHA256 under a key derived from TOKEN_ENCRYPTION_KEY by HKDF (never the raw key).
2. GET /linkedin/connect checks the token, stores a single-use OAuthState (only SHA-256
   hashes of the state and of a browser nonce), sets the nonce in an HttpOnly cookie and
   redirects to LinkedIn's authorization URL.
3. GET /linkedin/callback accepts the state once and only with the matching cookie, exchanges
   the code, checks the granted scopes, reads the member's identity and postable Pages and
   stores the connection encrypted. Any failure shows a short page and stores nothing.

Disconnect deletes the connection row and commits at once, purges deleted rows from the
database files, returns the user's waiting posts to draft and only then revokes the token
at LinkedIn, best effort, with the token held in memory only.

This module must never log, store unencrypted or put into a task payload any token,
authorization code, state or nonce.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from http.cookies import SimpleCookie
from urllib.parse import urlencode

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, select, update

from bot import notify
from bot.tasks import enqueue, task_handler
from bot.views.connection import WebResponse, html_page
from linkedin import LinkedInError
from storage.connections import StoredConnection, load_connection, save_connection
from storage.connections import delete_connection as delete_connection_row
from storage.db import purge_deleted, transaction
from storage.models import OAuthState
from storage.posts import (
    MEMBER_SCOPE,
    ORGANIZATION_SCOPE,
    audit,
    resume_after_reconnect,
    return_owner_posts_to_draft,
)

logger = logging.getLogger(__name__)

LINK_LIFETIME = timedelta(minutes=10)
STATE_LIFETIME = timedelta(minutes=10)
COOKIE_NAME = "companycore_linkedin_oauth"
PROFILE_SCOPE = "r_basicprofile"
# Without both, the connection cannot post at all, so it is refused.
REQUIRED_SCOPES = frozenset({PROFILE_SCOPE, MEMBER_SCOPE})
# Without both, posts can go to the member's own profile only.
PAGE_SCOPES = frozenset({ORGANIZATION_SCOPE, "rw_organization_admin"})
CANCEL_ERRORS = {
    "user_cancelled_login": "You cancelled signing in to LinkedIn, so nothing was connected.",
    "user_cancelled_authorize": "You declined the permissions on LinkedIn, so nothing was connected.",
}
RETRY_HINT = "Run /linkedin connect in Slack again to get a new link."
CONNECTED_TASK = "linkedin_connected"
DISCONNECT_TABLES = ["linkedin_connections", "oauth_states"]


class InvalidLink(Exception):
    """The connect link is malformed, tampered with or expired. `str()` is shown to the user."""


# --- Signed connect links ---------------------------------------------------------------


def link_key(settings) -> bytes:
    """Derive the connect-link HMAC key from TOKEN_ENCRYPTION_KEY with HKDF-SHA256."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"companycore linkedin connect link v1"
    ).derive(settings.encryption_key)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_link_token(settings, team_id: str, user_id: str, now, enterprise_id: str | None = None) -> str:
    claims = {"team": team_id, "user": user_id, "enterprise": enterprise_id, "iat": int(now.timestamp())}
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(link_key(settings), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(signature)}"


def connect_url(services, team_id: str, user_id: str, enterprise_id: str | None = None) -> str:
    """Return a fresh connect link for the user, valid for 10 minutes."""
    token = make_link_token(services.settings, team_id, user_id, services.clock(), enterprise_id)
    return f"{services.settings.public_base}/linkedin/connect?{urlencode({'t': token})}"


def read_link_token(settings, token: str, now) -> tuple[str, str]:
    """Return (team_id, user_id) of a valid link token. Raises InvalidLink."""
    body, _, signature = (token or "").partition(".")
    expected = hmac.new(link_key(settings), body.encode(), hashlib.sha256).digest()
    try:
        valid = hmac.compare_digest(_unb64(signature), expected)
        claims = json.loads(_unb64(body)) if valid else None
    except (ValueError, TypeError):
        valid, claims = False, None
    if not valid or not isinstance(claims, dict):
        raise InvalidLink("This connect link is not valid. " + RETRY_HINT)

    issued = claims.get("iat")
    age = now.timestamp() - issued if isinstance(issued, int) else None
    if age is None or age < -60 or age > LINK_LIFETIME.total_seconds():
        raise InvalidLink("This connect link has expired; links work for 10 minutes. " + RETRY_HINT)
    return str(claims["team"]), str(claims["user"])


# --- GET /linkedin/connect ---------------------------------------------------------------


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def start_authorization(services, query: dict[str, str]) -> WebResponse:
    """Check the link, store a single-use state and redirect to LinkedIn."""
    now = services.clock()
    try:
        team_id, user_id = read_link_token(services.settings, query.get("t", ""), now)
    except InvalidLink as error:
        return html_page(400, "Link not valid", str(error))

    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    with transaction(services.sessions) as session:
        session.execute(delete(OAuthState).where(OAuthState.expires_at < now))
        session.add(
            OAuthState(
                state_hash=_hash(state),
                browser_hash=_hash(nonce),
                team_id=team_id,
                user_id=user_id,
                created_at=now,
                expires_at=now + STATE_LIFETIME,
            )
        )
    logger.info("LinkedIn authorization started for team %s user %s", team_id, user_id)

    location = services.linkedin.oauth().authorization_url(services.settings.linkedin_redirect_uri, state)
    return WebResponse(302, [("Location", location), ("Set-Cookie", _cookie(services.settings, nonce))], b"")


def _cookie(settings, nonce: str, max_age: int = int(STATE_LIFETIME.total_seconds())) -> str:
    attributes = [f"{COOKIE_NAME}={nonce}", "Path=/linkedin", f"Max-Age={max_age}", "HttpOnly", "SameSite=Lax"]
    if settings.public_base.startswith("https://"):
        attributes.append("Secure")
    return "; ".join(attributes)


def read_cookie(header: str) -> str:
    cookie = SimpleCookie()
    try:
        cookie.load(header or "")
    except Exception:  # noqa: BLE001 - http.cookies raises CookieError and others on junk
        return ""
    morsel = cookie.get(COOKIE_NAME)
    return morsel.value if morsel else ""


# --- GET /linkedin/callback --------------------------------------------------------------


@dataclass
class Grant:
    """The connection a successful callback produced, before it is stored."""

    team_id: str
    user_id: str
    connection: StoredConnection = field(repr=False)
    personal_only: bool


def finish_authorization(services, query: dict[str, str], cookie_header: str) -> WebResponse:
    """Handle LinkedIn's redirect back: accept the state once, then connect or explain."""
    expire_cookie = ("Set-Cookie", _cookie(services.settings, "", max_age=0))
    claimed = _claim_state(services, query.get("state", ""), read_cookie(cookie_header))
    if isinstance(claimed, WebResponse):
        return claimed
    team_id, user_id = claimed

    error = query.get("error")
    if error:
        logger.info("LinkedIn authorization ended with %s for team %s user %s", error, team_id, user_id)
        message = CANCEL_ERRORS.get(error, f"LinkedIn did not connect your account ({error}).")
        return html_page(400, "Not connected", f"{message} {RETRY_HINT}", [expire_cookie])
    if not query.get("code"):
        return html_page(400, "Not connected", f"LinkedIn sent no authorization code. {RETRY_HINT}", [expire_cookie])

    result = _connect(services, team_id, user_id, query["code"])
    if isinstance(result, WebResponse):
        result.headers.append(expire_cookie)
        return result
    _store(services, result)
    message = "Connected. You can return to Slack."
    if result.personal_only:
        message += " LinkedIn did not grant the Page permissions, so you can post on your own profile only."
    return html_page(200, "LinkedIn connected", message, [expire_cookie])


def _claim_state(services, state: str, nonce: str) -> tuple[str, str] | WebResponse:
    """Mark the state used and return (team_id, user_id), or the page that explains why not."""
    now = services.clock()
    if not state:
        return html_page(400, "Link not valid", f"The answer from LinkedIn has no state. {RETRY_HINT}")

    with transaction(services.sessions) as session:
        row = session.scalar(select(OAuthState).where(OAuthState.state_hash == _hash(state)))
        if row is None:
            return html_page(400, "Link not valid", f"This sign-in is not known here, or was changed. {RETRY_HINT}")
        if row.used_at is not None:
            return html_page(400, "Link already used", f"This sign-in was already used. {RETRY_HINT}")
        if row.expires_at <= now:
            return html_page(400, "Link expired", f"This sign-in took longer than 10 minutes. {RETRY_HINT}")
        if not nonce or not hmac.compare_digest(_hash(nonce), row.browser_hash):
            return html_page(
                400,
                "Browser not recognised",
                f"Finish connecting in the browser where you started, with cookies allowed. {RETRY_HINT}",
            )
        claimed = session.execute(
            update(OAuthState).where(OAuthState.id == row.id, OAuthState.used_at.is_(None)).values(used_at=now)
        )
        if claimed.rowcount != 1:
            return html_page(400, "Link already used", f"This sign-in was already used. {RETRY_HINT}")
        return row.team_id, row.user_id


def _connect(services, team_id: str, user_id: str, code: str) -> Grant | WebResponse:
    """Exchange the code and read the member; return a Grant or the page explaining the failure."""
    oauth = services.linkedin.oauth()
    try:
        tokens = oauth.exchange_code(code, services.settings.linkedin_redirect_uri, now=services.clock())
    except LinkedInError as error:
        logger.warning("LinkedIn code exchange failed for team %s user %s: %s %s", team_id, user_id, type(error).__name__, error.code)
        return html_page(502, "Not connected", f"LinkedIn did not accept the sign-in, so nothing was connected. {RETRY_HINT}")

    missing = REQUIRED_SCOPES - tokens.scopes
    if missing:
        logger.info("LinkedIn grant for team %s user %s is missing %s, so it was rejected", team_id, user_id, sorted(missing))
        oauth.revoke(tokens.access_token)
        return html_page(
            403,
            "Not connected",
            "LinkedIn did not grant the permissions to "
            + ("read your name and " if PROFILE_SCOPE in missing else "")
            + "publish posts for you"
            + f" ({', '.join(sorted(missing))}), so nothing was connected. "
            "Ask your LinkedIn app's admin to add the Community Management API product, then "
            + RETRY_HINT[0].lower() + RETRY_HINT[1:],
        )

    personal_only = not PAGE_SCOPES <= tokens.scopes
    client = services.linkedin.client(tokens.access_token)
    try:
        identity = client.get_identity()
        organization_ids = [] if personal_only else client.list_postable_organization_ids()
    except LinkedInError as error:
        logger.warning("reading the LinkedIn member failed for team %s user %s: %s %s", team_id, user_id, type(error).__name__, error.code)
        oauth.revoke(tokens.access_token)
        return html_page(502, "Not connected", f"LinkedIn did not return your profile, so nothing was connected. {RETRY_HINT}")

    connection = StoredConnection(
        team_id=team_id,
        user_id=user_id,
        member_urn=identity.member_urn,
        member_name=" ".join(part for part in (identity.first_name, identity.last_name) if part) or identity.member_id,
        access_token=tokens.access_token,
        access_token_expires_at=tokens.expires_at,
        refresh_token=tokens.refresh_token,
        refresh_token_expires_at=tokens.refresh_token_expires_at,
        scopes=tokens.scopes,
        organization_ids=tuple(organization_ids),
        connected_at=services.clock(),
    )
    return Grant(team_id, user_id, connection, personal_only)


def _store(services, grant: Grant) -> None:
    now = services.clock()
    with transaction(services.sessions) as session:
        # A new grant replaces everything stored before, including an old refresh token.
        save_connection(session, services.vault, grant.connection, now)
        resumed = resume_after_reconnect(session, grant.team_id, grant.user_id, now)
        detail = "personal_only" if grant.personal_only else f"pages={len(grant.connection.organization_ids)}"
        audit(session, None, "linkedin_connected", now, team_id=grant.team_id, user_id=grant.user_id, detail=f"{detail} resumed={resumed}")
        enqueue(
            session,
            kind=CONNECTED_TASK,
            team_id=grant.team_id,
            user_id=grant.user_id,
            payload={"personal_only": grant.personal_only, "resumed": resumed},
            now=now,
        )
    logger.info("LinkedIn connected for team %s user %s", grant.team_id, grant.user_id)
    services.task_runner.kick()


@task_handler(CONNECTED_TASK)
def tell_user_connected(services, task) -> None:
    """DM the user that LinkedIn is connected and refresh their Home."""
    with services.sessions() as session:
        connected = load_connection(session, services.vault, task.team_id, task.user_id) is not None
    if connected:
        notify.dm(services, task.team_id, task.user_id, connected_message(task.payload))
    notify.publish_home(services, task.team_id, task.user_id)


def connected_message(payload: dict) -> str:
    lines = ["Your LinkedIn account is connected. Open the app's Home tab to draft and schedule posts."]
    if payload.get("personal_only"):
        lines.append("LinkedIn did not grant the Page permissions, so you can post on your own profile only.")
    resumed = payload.get("resumed") or 0
    if resumed:
        lines.append(f"{resumed} scheduled post(s) that waited for the reconnect are back in the queue.")
    return "\n".join(lines)


# --- Disconnect --------------------------------------------------------------------------


@dataclass
class DisconnectResult:
    was_connected: bool
    returned_to_draft: int
    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)


def disconnect(services, team_id: str, user_id: str) -> DisconnectResult:
    """Delete the user's connection at once, purge it and return waiting posts to draft.

    The tokens come back in memory so the caller can revoke them after replying to Slack.
    Calling it again finds nothing and changes nothing.
    """
    now = services.clock()
    with transaction(services.sessions) as session:
        stored = load_connection(session, services.vault, team_id, user_id)
        existed = delete_connection_row(session, team_id, user_id)
        session.execute(delete(OAuthState).where(OAuthState.team_id == team_id, OAuthState.user_id == user_id))
        returned = return_owner_posts_to_draft(session, team_id, user_id, now)
        if existed:
            audit(session, None, "linkedin_disconnected", now, team_id=team_id, user_id=user_id, detail=f"returned_to_draft={returned}")
    purge_deleted(services.engine, DISCONNECT_TABLES)
    logger.info("LinkedIn disconnected for team %s user %s (existed=%s)", team_id, user_id, existed)
    return DisconnectResult(
        was_connected=existed,
        returned_to_draft=returned,
        access_token=stored.access_token if stored else None,
        refresh_token=stored.refresh_token if stored else None,
    )


def revoke_quietly(services, result: DisconnectResult) -> None:
    """Ask LinkedIn to revoke the deleted tokens. Best effort: failures are logged only."""
    oauth = services.linkedin.oauth()
    for token in (result.access_token, result.refresh_token):
        if not token:
            continue
        try:
            oauth.revoke(token)
        except (LinkedInError, OSError) as error:
            logger.warning("LinkedIn revoke failed after disconnect: %s", type(error).__name__)


def disconnect_message(result: DisconnectResult) -> str:
    if not result.was_connected and not result.returned_to_draft:
        return "LinkedIn was not connected, so there was nothing to disconnect."
    lines = ["LinkedIn is disconnected. Your tokens, member ID, name and Page IDs are deleted."]
    if result.returned_to_draft:
        lines.append(
            f"{result.returned_to_draft} scheduled post(s) went back to drafts. "
            "Connect again and approve them to schedule them."
        )
    return "\n".join(lines)



# --- Delete my data ----------------------------------------------------------------------


def delete_my_data(services, team_id: str, user_id: str) -> tuple[dict[str, int], DisconnectResult]:
    """Delete every row of the user and purge them; return the counts and the tokens to revoke."""
    from storage.erasure import delete_user_data, user_data_tables

    with transaction(services.sessions) as session:
        stored = load_connection(session, services.vault, team_id, user_id)
        counts = delete_user_data(session, team_id, user_id)
    purge_deleted(services.engine, user_data_tables())
    logger.info("deleted the data of team %s user %s: %s", team_id, user_id, counts)
    tokens = DisconnectResult(
        was_connected=stored is not None,
        returned_to_draft=0,
        access_token=stored.access_token if stored else None,
        refresh_token=stored.refresh_token if stored else None,
    )
    return counts, tokens
