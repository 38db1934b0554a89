"""A fake LinkedIn that speaks LinkedIn's HTTP protocol on 127.0.0.1, for tests.

It serves the OAuth endpoints under /oauth/v2, GET /v2/me, and under /rest/ the
organization ACL, organization, Images and Posts endpoints. It checks what LinkedIn checks
(client credentials, redirect URI, single-use codes, bearer tokens, scopes, the
LinkedIn-Version and X-Restli-Protocol-Version headers, the post body's shape, image
ownership) and responds to violations with LinkedIn's error shape
`{"status", "serviceErrorCode", "code", "message"}`.

Like LinkedIn, it cuts a post's commentary at the first unescaped reserved little-text
character while still returning 201, and it stores the rendered text, so a test can prove
that the whole text arrived.

Failure injection: `script(route, *responses)` queues responses for one route (see ROUTES).
A scripted response replaces the real one, or with `accept` the fake first processes the
request (a create is stored as published), then responds as scripted, hangs or drops the
connection. Other processes use the JSON control endpoints under /_fake/.

NOTE: error codes and messages for body validation, a missing LinkedIn-Version or
X-Restli-Protocol-Version header and an image owned by someone else are modelled on
community reports, not on LinkedIn's documentation.

Run standalone: `python -m tests.fakes.linkedin_server --port 8765`.
This server must only ever listen on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import collections
import json
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

HOST = "127.0.0.1"
DEFAULT_CLIENT_ID = "fake-client-id"
DEFAULT_CLIENT_SECRET = "fake-client-secret"
DEFAULT_REDIRECT_URI = "http://localhost:3000/linkedin/callback"
DEFAULT_ACTIVE_VERSIONS = ("202611",)
ALL_SCOPES = (
    "r_basicprofile",
    "w_member_social",
    "w_organization_social",
    "rw_organization_admin",
    "r_organization_social",
)
RESERVED_CHARS = frozenset("\\|{}@[]()<>#*_~")
POSTING_ROLES = frozenset({"ADMINISTRATOR", "CONTENT_ADMINISTRATOR", "DIRECT_SPONSORED_CONTENT_POSTER"})
ACCESS_TOKEN_LIFETIME = 5_184_000  # 60 days, as LinkedIn issues them
REFRESH_TOKEN_LIFETIME = 31_536_000  # 365 days
CODE_LIFETIME = 1800  # an authorization code is valid for 30 minutes

# Route names accepted by `script()` and POST /_fake/script.
ROUTES = (
    "oauth.authorization",
    "oauth.accessToken",
    "oauth.introspectToken",
    "oauth.revoke",
    "me",
    "organizationAcls",
    "organizations",
    "images.initializeUpload",
    "images.upload",
    "images.get",
    "posts.create",
    "posts.list",
)

# Settings that POST /_fake/config may change.
CONFIGURABLE = (
    "active_versions",
    "app_scopes",
    "granted_scopes",
    "authorize_error",
    "issue_refresh_tokens",
    "token_response_omit",
    "access_token_lifetime",
    "image_processing_polls",
    "image_processing_result",
    "route_delays",
    "reject_duplicates",
    "max_commentary_chars",
    "login_member_id",
)


# Scripted responses. Each is a JSON-able dict, so other processes can send them too.


def error_response(
    status: int,
    code: str | None,
    message: str,
    *,
    service_error_code: int | None = None,
    headers: dict[str, str] | None = None,
    input_error_codes: Iterable[str] = (),
    accept: bool = False,
) -> dict[str, Any]:
    """Build a scripted response with LinkedIn's error body.

    With `accept` the fake first processes the request as usual, so a create is published.
    """
    return {
        "status": status,
        "body": error_body(status, code, message, service_error_code, input_error_codes),
        "headers": headers or {},
        "accept": accept,
    }


def duplicate_post_response(duplicate_of: str) -> dict[str, Any]:
    """Build a 422 DUPLICATE_POST response naming the earlier post."""
    return error_response(
        422,
        None,
        f"Content is a duplicate of {duplicate_of}",
        input_error_codes=["DUPLICATE_POST"],
    )


def hang_after_accept(seconds: float = 5.0) -> dict[str, Any]:
    """Process the request (a create is published), then wait `seconds` before responding."""
    return {"action": "hang", "seconds": seconds}


def drop_after_accept() -> dict[str, Any]:
    """Process the request (a create is published), then close the connection without a response."""
    return {"action": "drop"}


def expired_token_response() -> dict[str, Any]:
    return error_response(
        401, "EXPIRED_ACCESS_TOKEN", "The token used in the request has expired", service_error_code=65602
    )


def access_denied_response(resource: str = "posts.CREATE") -> dict[str, Any]:
    return error_response(
        403, "ACCESS_DENIED", f"Not enough permissions to access: {resource}", service_error_code=100
    )


def version_retired_response(version: str = "202401") -> dict[str, Any]:
    return error_response(426, "NONEXISTENT_VERSION", f"Requested version {version} is not active")


def rate_limited_response(retry_after: int | None = 60) -> dict[str, Any]:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return error_response(429, "TOO_MANY_REQUESTS", "Resource level throttle limit reached", headers=headers)


def server_error_response(status: int = 500, accept: bool = False) -> dict[str, Any]:
    return error_response(status, "INTERNAL_SERVER_ERROR", "Internal Server Error", accept=accept)


def error_body(
    status: int,
    code: str | None,
    message: str,
    service_error_code: int | None = None,
    input_error_codes: Iterable[str] = (),
) -> dict[str, Any]:
    """Return LinkedIn's error body shape."""
    body: dict[str, Any] = {"status": status, "message": message}
    if code is not None:
        body["code"] = code
    if service_error_code is not None:
        body["serviceErrorCode"] = service_error_code
    input_errors = [{"code": input_code} for input_code in input_error_codes]
    if input_errors:
        body["errorDetailType"] = "com.linkedin.common.error.BadRequest"
        body["errorDetails"] = {"inputErrors": input_errors}
    return body


def render_commentary(commentary: str) -> str:
    """Return the text LinkedIn shows for a commentary: cut at the first unescaped reserved
    character, with escapes removed and live hashtags kept."""
    shown: list[str] = []
    index = 0
    while index < len(commentary):
        char = commentary[index]
        if char == "\\" and index + 1 < len(commentary) and commentary[index + 1] in RESERVED_CHARS:
            shown.append(commentary[index + 1])
            index += 2
            continue
        if char == "#":
            tag = _hashtag_at(commentary, index)
            if tag:
                shown.append(tag)
                index += len(tag)
                continue
        if char in RESERVED_CHARS:
            break  # LinkedIn silently drops everything from here on.
        shown.append(char)
        index += 1
    return "".join(shown)


def _hashtag_at(text: str, index: int) -> str:
    if index > 0 and not text[index - 1].isspace():
        return ""
    end = index + 1
    while end < len(text) and (text[end].isalpha() or text[end].isdecimal()):
        end += 1
    word = text[index + 1 : end]
    return "#" + word if any(char.isalpha() for char in word) else ""


# State


@dataclass
class FakeMember:
    member_id: str
    first_name: str
    last_name: str

    @property
    def urn(self) -> str:
        return f"urn:li:person:{self.member_id}"


@dataclass
class FakeAcl:
    member_id: str
    organization_id: str
    role: str
    state: str = "APPROVED"


@dataclass
class FakeToken:
    value: str
    kind: str  # "access" or "refresh"
    member_id: str
    scopes: frozenset[str]
    created_at: float
    expires_at: float | None
    revoked: bool = False
    refresh_token: str | None = None  # the refresh token an access token came with


@dataclass
class FakeCode:
    value: str
    client_id: str
    redirect_uri: str
    scopes: frozenset[str]
    member_id: str
    issued_at: float
    used: bool = False


@dataclass
class FakeImage:
    urn: str
    owner: str
    status: str = "WAITING_UPLOAD"
    size: int = 0
    content_type: str | None = None
    polls_left: int = 0


@dataclass
class FakePost:
    urn: str
    author: str
    commentary: str  # as sent, escaped
    text: str  # as LinkedIn shows it
    visibility: str
    images: list[dict[str, str]]
    created_at_ms: int
    body: dict[str, Any] = field(repr=False)


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
        return cls(
            status,
            json.dumps(payload).encode(),
            {"Content-Type": "application/json", **(headers or {})},
        )

    @classmethod
    def error(cls, status: int, code: str | None, message: str, service_error_code: int | None = None,
              input_error_codes: Iterable[str] = ()) -> Reply:
        return cls.json(status, error_body(status, code, message, service_error_code, input_error_codes))

    @classmethod
    def oauth_error(cls, status: int, error: str, description: str) -> Reply:
        return cls.json(status, {"error": error, "error_description": description})


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    raw_query: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode() or "null")

    def form(self) -> dict[str, str]:
        return {key: values[0] for key, values in parse_qs(self.body.decode(), keep_blank_values=True).items()}


class FakeLinkedIn:
    """A fake LinkedIn on 127.0.0.1 with scriptable failures; see the module docstring."""

    def __init__(
        self,
        port: int = 0,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        redirect_uri: str = DEFAULT_REDIRECT_URI,
        active_versions: Iterable[str] = DEFAULT_ACTIVE_VERSIONS,
        app_scopes: Iterable[str] = ALL_SCOPES,
        granted_scopes: Iterable[str] | None = None,
        authorize_error: str | None = None,
        issue_refresh_tokens: bool = True,
        token_response_omit: Iterable[str] = (),
        access_token_lifetime: int = ACCESS_TOKEN_LIFETIME,
        image_processing_polls: int = 1,
        image_processing_result: str = "AVAILABLE",
        route_delays: dict[str, float] | None = None,
        reject_duplicates: bool = True,
        max_commentary_chars: int = 3000,
        clock: Callable[[], float] = time.time,
    ):
        self.port = port
        self.client_id = client_id
        self.client_secret = client_secret
        # Redirect URIs registered on the app's Auth tab.
        self.redirect_uris = {redirect_uri}
        self.active_versions = set(active_versions)
        # Scopes the app's products allow. Requesting another fails authorization.
        self.app_scopes = set(app_scopes)
        # Scopes the member grants; None grants every requested scope.
        self.granted_scopes = set(granted_scopes) if granted_scopes is not None else None
        # "user_cancelled_login" or "user_cancelled_authorize" makes authorization fail.
        self.authorize_error = authorize_error
        self.issue_refresh_tokens = issue_refresh_tokens
        # Keys left out of token responses, such as "expires_in" or "refresh_token".
        self.token_response_omit = set(token_response_omit)
        self.access_token_lifetime = access_token_lifetime
        # How many polls of GET /rest/images/{urn} return PROCESSING after the upload.
        self.image_processing_polls = image_processing_polls
        self.image_processing_result = image_processing_result
        # Seconds to wait before responding, by route name, such as {"posts.create": 0.2}.
        self.route_delays = dict(route_delays or {})
        self.reject_duplicates = reject_duplicates
        self.max_commentary_chars = max_commentary_chars
        self.clock = clock
        self._lock = threading.RLock()

        self.members: dict[str, FakeMember] = {}
        self.organizations: dict[str, str] = {}
        self.acls: list[FakeAcl] = []
        self.login_member_id = self.add_member("aBcD3fGh1J", "Ada", "Lovelace").member_id

        self.tokens: dict[str, FakeToken] = {}
        self.issued_tokens: list[str] = []  # every access and refresh token ever issued
        self.revoked_tokens: list[str] = []
        self.codes: dict[str, FakeCode] = {}
        self.images: dict[str, FakeImage] = {}
        self.posts: list[FakePost] = []
        self.create_requests = 0  # POST /rest/posts received, whether answered or not
        self.requests: list[dict[str, str]] = []  # method, path, raw query and route of each request
        self.authorize_requests: list[dict[str, str]] = []

        self._scripts: dict[str, collections.deque[dict[str, Any]]] = collections.defaultdict(collections.deque)
        self._next_id = 7_100_000_000_000_000_001
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # Lifecycle

    def start(self) -> FakeLinkedIn:
        handler = type("FakeLinkedInHandler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer((HOST, self.port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        # A short poll interval keeps stop() fast, because shutdown() waits for one poll.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.01,), name="fake-linkedin", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeLinkedIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def oauth_url(self) -> str:
        return f"{self.base_url}/oauth/v2"

    @property
    def api_url(self) -> str:
        return self.base_url

    # Setup helpers for tests

    def add_member(self, member_id: str, first_name: str, last_name: str) -> FakeMember:
        with self._lock:
            member = FakeMember(member_id, first_name, last_name)
            self.members[member_id] = member
            return member

    def add_organization(
        self,
        organization_id: str,
        name: str,
        role: str | None = "ADMINISTRATOR",
        state: str = "APPROVED",
        member_id: str | None = None,
    ) -> None:
        """Add a Page and, unless `role` is None, give the member that role on it."""
        with self._lock:
            self.organizations[organization_id] = name
            if role is not None:
                self.acls.append(FakeAcl(member_id or self.login_member_id, organization_id, role, state))

    def issue_access_token(
        self, member_id: str | None = None, scopes: Iterable[str] = ALL_SCOPES, lifetime: int | None = None
    ) -> str:
        """Issue an access token directly, for tests that skip the OAuth redirect."""
        with self._lock:
            token = self._new_token(
                "access", member_id or self.login_member_id, frozenset(scopes),
                lifetime if lifetime is not None else self.access_token_lifetime,
            )
            return token.value

    def expire_token(self, token: str) -> None:
        with self._lock:
            self.tokens[token].expires_at = self.clock() - 1

    def script(self, route: str, *responses: dict[str, Any]) -> None:
        """Queue scripted responses for `route`, used one per request in order."""
        if route not in ROUTES:
            raise ValueError(f"Unknown route {route!r}; expected one of {', '.join(ROUTES)}")
        with self._lock:
            self._scripts[route].extend(responses)

    def requests_to(self, route: str) -> list[dict[str, str]]:
        with self._lock:
            return [request for request in self.requests if request["route"] == route]

    def state(self) -> dict[str, Any]:
        """Return everything a test may inspect, as JSON-able data."""
        with self._lock:
            return {
                "create_requests": self.create_requests,
                "posts": [_post_json(post) for post in self.posts],
                "issued_tokens": list(self.issued_tokens),
                "revoked_tokens": list(self.revoked_tokens),
                "images": [asdict(image) for image in self.images.values()],
                "requests": list(self.requests),
                "authorize_requests": list(self.authorize_requests),
                "pending_scripts": {route: len(queue) for route, queue in self._scripts.items() if queue},
            }

    # Internals used by the handler

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _new_token(self, kind: str, member_id: str, scopes: frozenset[str], lifetime: int | None) -> FakeToken:
        now = self.clock()
        # LinkedIn's tokens are about 500 characters long.
        value = secrets.token_urlsafe(375)
        token = FakeToken(value, kind, member_id, scopes, now, now + lifetime if lifetime else None)
        self.tokens[value] = token
        self.issued_tokens.append(value)
        return token

    def _pop_script(self, route: str) -> dict[str, Any] | None:
        with self._lock:
            queue = self._scripts.get(route)
            return queue.popleft() if queue else None

    def _has_role(self, member_id: str, organization_id: str, roles: Iterable[str] | None = None) -> bool:
        return any(
            acl.member_id == member_id
            and acl.organization_id == organization_id
            and acl.state == "APPROVED"
            and (roles is None or acl.role in roles)
            for acl in self.acls
        )


def _post_json(post: FakePost) -> dict[str, Any]:
    return {
        "urn": post.urn,
        "author": post.author,
        "commentary": post.commentary,
        "text": post.text,
        "visibility": post.visibility,
        "images": post.images,
        "created_at_ms": post.created_at_ms,
    }


# The HTTP handler


class _Handler(BaseHTTPRequestHandler):
    fake: FakeLinkedIn
    protocol_version = "HTTP/1.1"  # keep-alive, like LinkedIn
    # Headers and body go out in separate writes, which Nagle's algorithm would delay.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass  # Tests read the fake's state instead of its access log.

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def _handle(self, method: str) -> None:
        request = self._read_request(method)
        if request.path.startswith("/_fake/"):
            self._send(_control(self.fake, request))
            return

        route, endpoint = _route(request)
        fake = self.fake
        with fake._lock:
            fake.requests.append(
                {"method": method, "path": request.path, "query": request.raw_query, "route": route or ""}
            )
            if route == "posts.create":
                fake.create_requests += 1

        if route is None:
            self._send(Reply.error(404, "NOT_FOUND", f"No resource found for {method} {request.path}"))
            return

        delay = fake.route_delays.get(route, 0.0)
        if delay:
            fake._stopping.wait(delay)

        scripted = fake._pop_script(route)
        if scripted is None:
            self._send(endpoint(fake, request))
            return

        action = scripted.get("action")
        if action is None and not scripted.get("accept"):
            self._send(_scripted_reply(scripted))
            return

        # The request is processed for real first: LinkedIn may act on a request whose
        # response never arrives.
        reply = endpoint(fake, request)
        if action == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if action == "hang":
            fake._stopping.wait(float(scripted.get("seconds", 5.0)))
            self._send(reply, ignore_disconnect=True)
            return
        self._send(_scripted_reply(scripted))

    def _read_request(self, method: str) -> Request:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        query = {key: values[0] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
        headers = {name.lower(): value for name, value in self.headers.items()}
        return Request(method, parts.path, query, parts.query, headers, body)

    def _send(self, reply: Reply, ignore_disconnect: bool = False) -> None:
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            if not ignore_disconnect:
                raise
            self.close_connection = True


def _scripted_reply(scripted: dict[str, Any]) -> Reply:
    body = scripted.get("body")
    payload = b"" if body is None else json.dumps(body).encode()
    headers = dict(scripted.get("headers") or {})
    if body is not None:
        headers.setdefault("Content-Type", "application/json")
    return Reply(int(scripted.get("status", 200)), payload, headers)


Endpoint = Callable[[FakeLinkedIn, Request], Reply]


def _route(request: Request) -> tuple[str | None, Endpoint | None]:
    method, path = request.method, request.path
    fixed: dict[tuple[str, str], tuple[str, Endpoint]] = {
        ("GET", "/oauth/v2/authorization"): ("oauth.authorization", _authorization),
        ("POST", "/oauth/v2/accessToken"): ("oauth.accessToken", _access_token),
        ("POST", "/oauth/v2/introspectToken"): ("oauth.introspectToken", _introspect),
        ("POST", "/oauth/v2/revoke"): ("oauth.revoke", _revoke),
        ("GET", "/v2/me"): ("me", _me),
        ("GET", "/rest/organizationAcls"): ("organizationAcls", _organization_acls),
        ("POST", "/rest/posts"): ("posts.create", _create_post),
        ("GET", "/rest/posts"): ("posts.list", _list_posts),
    }
    if (method, path) in fixed:
        return fixed[(method, path)]
    if method == "POST" and path == "/rest/images" and request.query.get("action") == "initializeUpload":
        return "images.initializeUpload", _initialize_upload
    if method == "GET" and path.startswith("/rest/images/"):
        return "images.get", _get_image
    if method == "PUT" and path.startswith("/dms-uploads/images/"):
        return "images.upload", _upload_image
    if method == "GET" and path.startswith("/rest/organizations/"):
        return "organizations", _organization
    return None, None


# OAuth endpoints


def _authorization(fake: FakeLinkedIn, request: Request) -> Reply:
    params = request.query
    with fake._lock:
        fake.authorize_requests.append(dict(params))

    if params.get("response_type") != "code":
        return Reply(400, b"Invalid response_type: expected code", {"Content-Type": "text/plain"})
    if params.get("client_id") != fake.client_id:
        return Reply(400, b"Invalid client_id", {"Content-Type": "text/plain"})
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri.split("?")[0] not in {uri.split("?")[0] for uri in fake.redirect_uris}:
        return Reply(400, b"The redirect_uri does not match the registered value", {"Content-Type": "text/plain"})

    state = params.get("state", "")
    requested = set(params.get("scope", "").split())
    if not requested:
        return _redirect(redirect_uri, error="invalid_scope", error_description="No scope requested", state=state)
    unknown = sorted(requested - fake.app_scopes)
    if unknown:
        return _redirect(
            redirect_uri,
            error="unauthorized_scope_error",
            error_description=f'Scope "{unknown[0]}" is not authorized for your application',
            state=state,
        )
    if fake.authorize_error:
        return _redirect(
            redirect_uri, error=fake.authorize_error, error_description="The member cancelled", state=state
        )

    granted = requested if fake.granted_scopes is None else requested & fake.granted_scopes
    with fake._lock:
        code = FakeCode(
            secrets.token_urlsafe(48), fake.client_id, redirect_uri, frozenset(granted),
            fake.login_member_id, fake.clock(),
        )
        fake.codes[code.value] = code
    return _redirect(redirect_uri, code=code.value, state=state)


def _redirect(redirect_uri: str, **params: str) -> Reply:
    separator = "&" if "?" in redirect_uri else "?"
    return Reply(302, b"", {"Location": f"{redirect_uri}{separator}{urlencode(params)}"})


def _access_token(fake: FakeLinkedIn, request: Request) -> Reply:
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return Reply.oauth_error(400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded")
    form = request.form()
    for name in ("grant_type", "client_id", "client_secret"):
        if not form.get(name):
            return Reply.oauth_error(400, "invalid_request", f'A required parameter "{name}" is missing')
    if form["client_id"] != fake.client_id or form["client_secret"] != fake.client_secret:
        return Reply.oauth_error(401, "invalid_client", "Client authentication failed")

    with fake._lock:
        if form["grant_type"] == "authorization_code":
            return _exchange_code(fake, form)
        if form["grant_type"] == "refresh_token":
            return _refresh(fake, form)
    return Reply.oauth_error(400, "unsupported_grant_type", f"Unsupported grant_type {form['grant_type']}")


def _exchange_code(fake: FakeLinkedIn, form: dict[str, str]) -> Reply:
    for name in ("code", "redirect_uri"):
        if not form.get(name):
            return Reply.oauth_error(400, "invalid_request", f'A required parameter "{name}" is missing')
    code = fake.codes.get(form["code"])
    if code is None:
        return Reply.oauth_error(400, "invalid_request", "Unable to retrieve access token: authorization code not found")
    expired = fake.clock() - code.issued_at > CODE_LIFETIME
    if code.used or expired or code.redirect_uri != form["redirect_uri"]:
        return Reply.oauth_error(
            400,
            "invalid_redirect_uri",
            "Unable to retrieve access token: appid/redirect uri/code verifier does not match "
            "authorization code. Or authorization code expired.",
        )
    code.used = True

    refresh = None
    if fake.issue_refresh_tokens:
        refresh = fake._new_token("refresh", code.member_id, code.scopes, REFRESH_TOKEN_LIFETIME)
    access = fake._new_token("access", code.member_id, code.scopes, fake.access_token_lifetime)
    access.refresh_token = refresh.value if refresh else None
    return Reply.json(200, _token_response(fake, access, refresh))


def _refresh(fake: FakeLinkedIn, form: dict[str, str]) -> Reply:
    refresh = fake.tokens.get(form.get("refresh_token", ""))
    if refresh is None or refresh.kind != "refresh" or refresh.revoked or _expired(fake, refresh):
        return Reply.oauth_error(
            400, "invalid_request", "The provided authorization grant or refresh token is invalid, expired or revoked."
        )
    access = fake._new_token("access", refresh.member_id, refresh.scopes, fake.access_token_lifetime)
    access.refresh_token = refresh.value
    return Reply.json(200, _token_response(fake, access, refresh))


def _token_response(fake: FakeLinkedIn, access: FakeToken, refresh: FakeToken | None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "access_token": access.value,
        "expires_in": fake.access_token_lifetime,
        # LinkedIn documents spaces but sends commas.
        "scope": ",".join(sorted(access.scopes)),
    }
    if refresh is not None:
        answer["refresh_token"] = refresh.value
        # The refresh token's lifetime counts from the original consent and shrinks.
        answer["refresh_token_expires_in"] = int((refresh.expires_at or 0) - fake.clock())
    for key in fake.token_response_omit:
        answer.pop(key, None)
    return answer


def _introspect(fake: FakeLinkedIn, request: Request) -> Reply:
    form = request.form()
    if form.get("client_id") != fake.client_id or form.get("client_secret") != fake.client_secret:
        return Reply.oauth_error(401, "invalid_client", "Client authentication failed")
    with fake._lock:
        token = fake.tokens.get(form.get("token", ""))
        if token is None:
            return Reply.json(200, {"active": False})
        status = "active"
        if token.revoked:
            status = "revoked"
        elif _expired(fake, token):
            status = "expired"
        answer = {
            "active": status == "active",
            "client_id": fake.client_id,
            "authorized_at": int(token.created_at),
            "created_at": int(token.created_at),
            "status": status,
            "scope": ",".join(sorted(token.scopes)),
            "auth_type": "3L",
        }
        if token.expires_at is not None:
            answer["expires_at"] = int(token.expires_at)
    return Reply.json(200, answer)


def _revoke(fake: FakeLinkedIn, request: Request) -> Reply:
    form = request.form()
    if form.get("client_id") != fake.client_id or form.get("client_secret") != fake.client_secret:
        return Reply.oauth_error(401, "invalid_client", "Client authentication failed")
    value = form.get("token")
    if not value:
        return Reply.oauth_error(400, "invalid_request", 'A required parameter "token" is missing')
    with fake._lock:
        fake.revoked_tokens.append(value)
        token = fake.tokens.get(value)
        if token is not None:
            token.revoked = True
    return Reply(200)


def _expired(fake: FakeLinkedIn, token: FakeToken) -> bool:
    return token.expires_at is not None and token.expires_at <= fake.clock()


# Checks shared by the API endpoints


def _authenticate(fake: FakeLinkedIn, request: Request) -> FakeToken | Reply:
    header = request.headers.get("authorization", "")
    if not header.startswith("Bearer ") or not header[len("Bearer "):].strip():
        return Reply.error(401, "EMPTY_ACCESS_TOKEN", "Empty oauth2 access token", 65604)
    with fake._lock:
        token = fake.tokens.get(header[len("Bearer "):].strip())
        if token is None or token.kind != "access":
            return Reply.error(401, "INVALID_ACCESS_TOKEN", "Invalid access token", 65600)
        if token.revoked:
            return Reply.error(
                401, "REVOKED_ACCESS_TOKEN", "The token used in the request has been revoked by the user", 65601
            )
        if _expired(fake, token):
            return Reply.error(401, "EXPIRED_ACCESS_TOKEN", "The token used in the request has expired", 65602)
    return token


def _authenticate_rest(fake: FakeLinkedIn, request: Request) -> FakeToken | Reply:
    token = _authenticate(fake, request)
    if isinstance(token, Reply):
        return token
    version = request.headers.get("linkedin-version")
    if not version:
        return Reply.error(
            400, "VERSION_MISSING",
            "A version must be present. Please specify a version by adding the LinkedIn-Version header.",
        )
    if version not in fake.active_versions:
        return Reply.error(426, "NONEXISTENT_VERSION", f"Requested version {version} is not active")
    if request.headers.get("x-restli-protocol-version") != "2.0.0":
        return Reply.error(400, "ILLEGAL_ARGUMENT", "The X-Restli-Protocol-Version header must be 2.0.0")
    return token


def _denied(resource: str, request: Request) -> Reply:
    version = request.headers.get("linkedin-version", "NO_VERSION")
    return Reply.error(403, "ACCESS_DENIED", f"Not enough permissions to access: {resource}.{version}", 100)


def _organization_id(urn: str) -> str | None:
    prefix = "urn:li:organization:"
    return urn[len(prefix):] if urn.startswith(prefix) and urn[len(prefix):].isdigit() else None


def _may_act_as(fake: FakeLinkedIn, token: FakeToken, author: str) -> bool:
    if author.startswith("urn:li:person:"):
        return author == f"urn:li:person:{token.member_id}" and "w_member_social" in token.scopes
    organization_id = _organization_id(author)
    return (
        organization_id is not None
        and "w_organization_social" in token.scopes
        and fake._has_role(token.member_id, organization_id, POSTING_ROLES)
    )


# Identity and organizations


def _me(fake: FakeLinkedIn, request: Request) -> Reply:
    token = _authenticate(fake, request)
    if isinstance(token, Reply):
        return token
    if "r_basicprofile" not in token.scopes:
        return Reply.error(403, "ACCESS_DENIED", "Not enough permissions to access: me.GET.NO_VERSION", 100)
    member = fake.members[token.member_id]
    locale = {"country": "US", "language": "en"}
    return Reply.json(200, {
        "id": member.member_id,
        "localizedFirstName": member.first_name,
        "localizedLastName": member.last_name,
        "firstName": {"localized": {"en_US": member.first_name}, "preferredLocale": locale},
        "lastName": {"localized": {"en_US": member.last_name}, "preferredLocale": locale},
    })


def _organization_acls(fake: FakeLinkedIn, request: Request) -> Reply:
    token = _authenticate_rest(fake, request)
    if isinstance(token, Reply):
        return token
    if "rw_organization_admin" not in token.scopes:
        return _denied("organizationAcls.FINDER-roleAssignee", request)
    query = request.query
    if query.get("q") != "roleAssignee":
        return Reply.error(400, "ILLEGAL_ARGUMENT", "Unsupported finder: expected q=roleAssignee")
    start, count = int(query.get("start", 0)), int(query.get("count", 10))

    with fake._lock:
        matching = [
            acl for acl in fake.acls
            if acl.member_id == token.member_id
            and (query.get("state") is None or acl.state == query["state"])
            and (query.get("role") is None or acl.role == query["role"])
        ]
    page = matching[start:start + count]
    links = []
    if start + count < len(matching):
        next_query = {**query, "start": str(start + count), "count": str(count)}
        links.append({"rel": "next", "href": f"/rest/organizationAcls?{urlencode(next_query)}", "type": "application/json"})
    elements = [
        {
            "roleAssignee": f"urn:li:person:{acl.member_id}",
            "role": acl.role,
            "state": acl.state,
            "organization": f"urn:li:organization:{acl.organization_id}",
        }
        for acl in page
    ]
    return Reply.json(200, {"paging": {"count": count, "start": start, "total": len(matching), "links": links},
                            "elements": elements})


def _organization(fake: FakeLinkedIn, request: Request) -> Reply:
    token = _authenticate_rest(fake, request)
    if isinstance(token, Reply):
        return token
    organization_id = request.path[len("/rest/organizations/"):]
    with fake._lock:
        if organization_id not in fake.organizations:
            return Reply.error(404, "NOT_FOUND", f"Organization {organization_id} not found")
        if "rw_organization_admin" not in token.scopes or not fake._has_role(token.member_id, organization_id):
            return _denied("organizations.GET", request)
        name = fake.organizations[organization_id]
    return Reply.json(200, {
        "id": int(organization_id),
        "localizedName": name,
        "vanityName": name.lower().replace(" ", "-"),
    })


# Images


def _initialize_upload(fake: FakeLinkedIn, request: Request) -> Reply:
    token = _authenticate_rest(fake, request)
    if isinstance(token, Reply):
        return token
    try:
        body = request.json()
        owner = body["initializeUploadRequest"]["owner"]
    except (ValueError, KeyError, TypeError):
        return Reply.error(400, "ILLEGAL_ARGUMENT", "Expected {\"initializeUploadRequest\": {\"owner\": <urn>}}")
    if not isinstance(owner, str) or not _may_act_as(fake, token, owner):
        return _denied("images.ACTION-initializeUpload", request)

    with fake._lock:
        number = fake._new_id()
        image = FakeImage(urn=f"urn:li:image:D4E10AQ{number}", owner=owner)
        fake.images[image.urn] = image
    return Reply.json(200, {"value": {
        "uploadUrlExpiresAt": int((fake.clock() + 86400) * 1000),
        "uploadUrl": f"{fake.base_url}/dms-uploads/images/{number}",
        "image": image.urn,
    }})


def _upload_image(fake: FakeLinkedIn, request: Request) -> Reply:
    # LinkedIn requires the bearer token on image uploads.
    token = _authenticate(fake, request)
    if isinstance(token, Reply):
        return token
    number = request.path[len("/dms-uploads/images/"):]
    with fake._lock:
        image = fake.images.get(f"urn:li:image:D4E10AQ{number}")
        if image is None or image.status != "WAITING_UPLOAD":
            return Reply.error(400, "ILLEGAL_ARGUMENT", "The upload URL is unknown or already used")
        if not request.body:
            return Reply.error(400, "ILLEGAL_ARGUMENT", "The upload body is empty")
        image.size = len(request.body)
        image.content_type = request.headers.get("content-type")
        image.status = "PROCESSING"
        image.polls_left = fake.image_processing_polls
    return Reply(201)


def _get_image(fake: FakeLinkedIn, request: Request) -> Reply:
    token = _authenticate_rest(fake, request)
    if isinstance(token, Reply):
        return token
    urn = unquote(request.path[len("/rest/images/"):])
    with fake._lock:
        image = fake.images.get(urn)
        if image is None:
            return Reply.error(404, "NOT_FOUND", f"Image {urn} not found")
        if image.status == "PROCESSING":
            if image.polls_left > 0:
                image.polls_left -= 1
            else:
                image.status = fake.image_processing_result
        answer = {"id": image.urn, "owner": image.owner, "status": image.status}
    return Reply.json(200, answer)


# Posts


_POST_KEYS = {"author", "commentary", "visibility", "distribution", "lifecycleState", "isReshareDisabledByAuthor"}
_MAIN_FEED = {"feedDistribution": "MAIN_FEED", "targetEntities": [], "thirdPartyDistributionChannels": []}


def _create_post(fake: FakeLinkedIn, request: Request) -> Reply:
    token = _authenticate_rest(fake, request)
    if isinstance(token, Reply):
        return token
    try:
        body = request.json()
    except ValueError:
        return Reply.error(400, "ILLEGAL_ARGUMENT", "The request body is not valid JSON")
    problem = _post_body_problem(body)
    if problem is not None:
        return problem

    author = body["author"]
    if not _may_act_as(fake, token, author):
        return _denied("posts.CREATE", request)

    with fake._lock:
        images, problem = _post_images(fake, body.get("content"), author)
        if problem is not None:
            return problem
        if len(body["commentary"]) > fake.max_commentary_chars:
            return Reply.error(
                422, None,
                "Field Value validation failed in REQUEST_BODY: Data Processing Exception while "
                "processing fields [/commentary]",
                input_error_codes=["FIELD_LENGTH_TOO_LONG"],
            )
        if fake.reject_duplicates:
            for post in fake.posts:
                if post.author == author and post.commentary == body["commentary"]:
                    return Reply.error(422, None, f"Content is a duplicate of {post.urn}",
                                       input_error_codes=["DUPLICATE_POST"])

        post = FakePost(
            urn=f"urn:li:share:{fake._new_id()}",
            author=author,
            commentary=body["commentary"],
            text=render_commentary(body["commentary"]),
            visibility=body["visibility"],
            images=images,
            created_at_ms=int(fake.clock() * 1000),
            body=body,
        )
        fake.posts.append(post)
    return Reply(201, b"", {"x-restli-id": post.urn})


def _post_body_problem(body: Any) -> Reply | None:
    if not isinstance(body, dict):
        return Reply.error(400, "ILLEGAL_ARGUMENT", "The request body must be a JSON object")
    unknown = sorted(set(body) - _POST_KEYS - {"content"})
    if unknown:
        return Reply.error(
            400, None,
            f"Unpermitted fields present in REQUEST_BODY: Data Processing Exception while processing fields [/{unknown[0]}]",
        )
    missing = sorted(_POST_KEYS - set(body))
    if missing:
        return Reply.error(422, None, f"Field Value validation failed in REQUEST_BODY: missing field /{missing[0]}",
                           input_error_codes=["MISSING_FIELD"])

    author = body["author"]
    if not isinstance(author, str) or not (author.startswith("urn:li:person:") or _organization_id(author)):
        return Reply.error(422, None, "Invalid author: expected urn:li:person or urn:li:organization")
    if not isinstance(body["commentary"], str):
        return Reply.error(422, None, "Invalid commentary: expected a string")
    if body["visibility"] not in ("PUBLIC", "CONNECTIONS", "LOGGED_IN", "CONTAINER"):
        return Reply.error(422, None, f"Invalid visibility {body['visibility']!r}")
    if body["visibility"] == "CONNECTIONS" and not author.startswith("urn:li:person:"):
        return Reply.error(422, None, "CONNECTIONS visibility is only allowed for member authors")
    if body["distribution"] != _MAIN_FEED:
        return Reply.error(422, None, "Invalid distribution: expected MAIN_FEED with empty targetEntities and "
                                      "thirdPartyDistributionChannels")
    if body["lifecycleState"] != "PUBLISHED":
        return Reply.error(422, None, "Invalid lifecycleState: only PUBLISHED is allowed on create")
    if body["isReshareDisabledByAuthor"] is not False:
        return Reply.error(422, None, "Invalid isReshareDisabledByAuthor: expected false")
    return None


def _post_images(fake: FakeLinkedIn, content: Any, author: str) -> tuple[list[dict[str, str]], Reply | None]:
    if content is None:
        return [], None
    if not isinstance(content, dict) or len(content) != 1 or next(iter(content)) not in ("media", "multiImage"):
        return [], Reply.error(422, None, "Invalid content: expected exactly one of media or multiImage")
    if "media" in content:
        entries = [content["media"]]
    else:
        entries = content["multiImage"].get("images") if isinstance(content["multiImage"], dict) else None
        if not isinstance(entries, list) or not 2 <= len(entries) <= 20:
            return [], Reply.error(422, None, "Invalid multiImage: expected 2 to 20 images")

    images = []
    for entry in entries:
        if not isinstance(entry, dict) or set(entry) - {"id", "altText"} or not isinstance(entry.get("id"), str):
            return [], Reply.error(422, None, "Invalid image entry: expected {id, altText}")
        image = fake.images.get(entry["id"])
        if image is None or image.status == "WAITING_UPLOAD":
            return [], Reply.error(422, None, f"Image {entry['id']} does not exist or was never uploaded")
        if image.owner != author:
            return [], Reply.error(
                400, "INVALID_CONTENT_OWNERSHIP",
                f"Image {image.urn} is owned by {image.owner}, not by the post author {author}",
            )
        images.append({"id": image.urn, "altText": entry.get("altText", "")})
    return images, None


def _list_posts(fake: FakeLinkedIn, request: Request) -> Reply:
    token = _authenticate_rest(fake, request)
    if isinstance(token, Reply):
        return token
    query = request.query
    if query.get("q") != "author" or not query.get("author"):
        return Reply.error(400, "ILLEGAL_ARGUMENT", "Expected q=author&author=<urn>")
    organization_id = _organization_id(query["author"])
    with fake._lock:
        if (
            organization_id is None
            or "r_organization_social" not in token.scopes
            or not fake._has_role(token.member_id, organization_id)
        ):
            return _denied("posts.FINDER-author", request)
        posts = [post for post in fake.posts if post.author == query["author"]]
    posts.sort(key=lambda post: post.created_at_ms, reverse=True)
    count = int(query.get("count", 10))
    elements = [
        {
            "id": post.urn,
            "author": post.author,
            "commentary": post.commentary,
            "visibility": post.visibility,
            "lifecycleState": "PUBLISHED",
            "createdAt": post.created_at_ms,
            "lastModifiedAt": post.created_at_ms,
        }
        for post in posts[:count]
    ]
    return Reply.json(200, {"elements": elements, "paging": {"start": 0, "count": count, "links": []}})


# The control endpoints under /_fake/


def _control(fake: FakeLinkedIn, request: Request) -> Reply:
    try:
        payload = request.json() if request.method == "POST" else None
    except ValueError:
        return Reply.json(400, {"error": "The body is not valid JSON"})

    if (request.method, request.path) == ("GET", "/_fake/state"):
        return Reply.json(200, fake.state())
    if (request.method, request.path) == ("GET", "/_fake/posts"):
        return Reply.json(200, {"posts": fake.state()["posts"], "create_requests": fake.create_requests})
    if not isinstance(payload, dict):
        return Reply.json(404 if request.method != "POST" else 400, {"error": f"Unknown control request {request.path}"})

    try:
        return _control_post(fake, request.path, payload)
    except (KeyError, TypeError, ValueError) as exc:
        return Reply.json(400, {"error": f"Invalid control request: {exc!r}"})


def _control_post(fake: FakeLinkedIn, path: str, payload: dict[str, Any]) -> Reply:
    if path == "/_fake/script":
        fake.script(payload["route"], *payload["responses"])
        return Reply.json(200, {"queued": len(payload["responses"])})
    if path == "/_fake/config":
        unknown = sorted(set(payload) - set(CONFIGURABLE))
        if unknown:
            raise ValueError(f"not configurable: {', '.join(unknown)}")
        with fake._lock:
            for name, value in payload.items():
                if name in ("active_versions", "app_scopes", "token_response_omit") or (
                    name == "granted_scopes" and value is not None
                ):
                    value = set(value)
                setattr(fake, name, value)
        return Reply.json(200, {"configured": sorted(payload)})
    if path == "/_fake/tokens":
        token = fake.issue_access_token(payload.get("member_id"), payload.get("scopes", ALL_SCOPES))
        return Reply.json(200, {"access_token": token})
    if path == "/_fake/members":
        member = fake.add_member(payload["member_id"], payload["first_name"], payload["last_name"])
        if payload.get("login"):
            fake.login_member_id = member.member_id
        return Reply.json(200, {"member_urn": member.urn})
    if path == "/_fake/organizations":
        fake.add_organization(
            str(payload["organization_id"]), payload["name"], payload.get("role", "ADMINISTRATOR"),
            payload.get("state", "APPROVED"), payload.get("member_id"),
        )
        return Reply.json(200, {"organization_urn": f"urn:li:organization:{payload['organization_id']}"})
    if path == "/_fake/expire":
        fake.expire_token(payload["token"])
        return Reply.json(200, {"expired": True})
    return Reply.json(404, {"error": f"Unknown control request {path}"})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the fake LinkedIn on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one")
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    parser.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
    parser.add_argument("--redirect-uri", default=DEFAULT_REDIRECT_URI, help="the registered redirect URI")
    parser.add_argument("--version", action="append", dest="versions",
                        help="an active LinkedIn-Version; repeat for several (default 202611)")
    parser.add_argument("--no-refresh-tokens", action="store_true", help="issue no refresh tokens")
    parser.add_argument("--create-delay", type=float, default=0.0, help="seconds to wait before responding to each create")
    args = parser.parse_args(argv)

    fake = FakeLinkedIn(
        args.port,
        client_id=args.client_id,
        client_secret=args.client_secret,
        redirect_uri=args.redirect_uri,
        active_versions=args.versions or DEFAULT_ACTIVE_VERSIONS,
        issue_refresh_tokens=not args.no_refresh_tokens,
        route_delays={"posts.create": args.create_delay} if args.create_delay else None,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with fake:
        print(f"Fake LinkedIn listening on {fake.base_url}", flush=True)
        stop.wait()
    print("Fake LinkedIn stopped", flush=True)


if __name__ == "__main__":
    main()
