"""The one HTTP layer under the LinkedIn client: session, headers, timeouts and error mapping.

Every call to LinkedIn goes through `HttpLayer.send`, which applies the connect and read
timeouts and turns transport failures and error responses into the typed exceptions of
`linkedin.errors`. Reads may be retried with bounded backoff. A create is never retried
here, because a create that timed out may already be published.

This module must never put a token into a log line or an exception, and it must never
follow a redirect with the bearer token to a host it does not know.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from linkedin.errors import (
    DuplicatePost,
    LinkedInError,
    OutcomeUnknown,
    PermissionDenied,
    RateLimited,
    ReconnectRequired,
    TextRejected,
    Transient,
    VersionRetired,
)

logger = logging.getLogger(__name__)

# (connect, read) in seconds, as requests takes them.
Timeout = tuple[float, float]
DEFAULT_TIMEOUT: Timeout = (5.0, 30.0)
RESTLI_PROTOCOL_VERSION = "2.0.0"

# Reads are tried at most this many times on a 5xx, a connection failure or a 429.
DEFAULT_READ_ATTEMPTS = 3
_BACKOFF_SECONDS = (1.0, 2.0, 4.0)
# A 429 whose Retry-After exceeds this is raised to the caller instead of waited out.
MAX_RETRY_AFTER_SECONDS = 30.0

_DUPLICATE_URN = re.compile(r"duplicate of (urn:li:[A-Za-z]+:[\w-]+)")


def encode_urn(urn: str) -> str:
    """Percent-encode a URN for use as one path segment or query value (`:` becomes `%3A`)."""
    return quote(urn, safe="")


class HttpLayer:
    """A requests.Session with LinkedIn's timeouts, retries for reads and error mapping."""

    def __init__(
        self,
        session: requests.Session | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
        read_attempts: int = DEFAULT_READ_ATTEMPTS,
    ):
        # NOTE: a session passed in must not mount an adapter that retries POST requests,
        # because such a retry could publish a post twice.
        self.session = session if session is not None else requests.Session()
        self.timeout = timeout
        self.sleep = sleep
        self.read_attempts = max(1, read_attempts)

    def send(
        self,
        method: str,
        url: str,
        *,
        creates: bool = False,
        **kwargs: Any,
    ) -> requests.Response:
        """Send one request without retrying and return a 2xx response.

        `creates` marks a request that publishes something, such as POST /rest/posts. For
        such a request a timeout, a dropped connection or a 5xx raise OutcomeUnknown, since
        LinkedIn may have acted on it. Other failures raise the LinkedInError subclass that
        `error_from_response` picks.
        """
        response = self.send_unchecked(method, url, creates=creates, **kwargs)
        if response.status_code >= 300:
            raise error_from_response(response, creates=creates)
        return response

    def send_unchecked(
        self,
        method: str,
        url: str,
        *,
        creates: bool = False,
        **kwargs: Any,
    ) -> requests.Response:
        """Send one request and return the response whatever its status.

        Only transport failures are raised, as Transient or, for a create that was sent,
        OutcomeUnknown.
        """
        try:
            # Redirects are not followed, so the Authorization header never leaves for a
            # host that a Location header names.
            return self.session.request(
                method, url, timeout=self.timeout, allow_redirects=False, **kwargs
            )
        except requests.RequestException as exc:
            raise _transport_error(exc, method, creates) from exc

    def read(self, url: str, **kwargs: Any) -> requests.Response:
        """GET `url`, retrying 5xx, connection failures and short 429 waits with backoff."""
        for attempt in range(1, self.read_attempts + 1):
            try:
                return self.send("GET", url, **kwargs)
            except (Transient, RateLimited) as exc:
                wait = _retry_wait(exc, attempt)
                if attempt >= self.read_attempts or wait is None:
                    raise
                logger.warning(
                    "LinkedIn read failed, retrying in %.1f s (attempt %d of %d): "
                    "status=%s code=%s",
                    wait,
                    attempt,
                    self.read_attempts,
                    exc.status,
                    exc.code,
                )
                self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover


def rest_headers(access_token: str, version: str) -> dict[str, str]:
    """Return the headers every versioned /rest/ call needs."""
    return {
        "Authorization": f"Bearer {access_token}",
        "LinkedIn-Version": version,
        "X-Restli-Protocol-Version": RESTLI_PROTOCOL_VERSION,
    }


def error_from_response(response: requests.Response, *, creates: bool = False) -> LinkedInError:
    """Map a LinkedIn error response to the exception type that names the caller's next step."""
    status = response.status_code
    body = _json_body(response)
    code = _string_or_none(body.get("code"))
    service_error_code = body.get("serviceErrorCode")
    if not isinstance(service_error_code, int):
        service_error_code = None
    message = _string_or_none(body.get("message")) or f"HTTP {status} {response.reason or ''}".strip()
    input_codes = _input_error_codes(body)
    details = {"status": status, "code": code, "service_error_code": service_error_code}

    if status == 401:
        return ReconnectRequired(
            f"LinkedIn rejected the access token ({code or status}): {message}. "
            "Refresh the token or connect LinkedIn again.",
            **details,
        )
    if status == 403:
        return PermissionDenied(f"LinkedIn denied the request ({code or status}): {message}", **details)
    if status == 426:
        version = response.request.headers.get("LinkedIn-Version") if response.request else None
        return VersionRetired(
            f"LinkedIn no longer serves API version {version or '(unknown)'} "
            f"({code or 'NONEXISTENT_VERSION'}): {message}. Set LINKEDIN_VERSION to a "
            "version LinkedIn still supports, as YYYYMM.",
            **details,
        )
    if status == 429:
        retry_after = _retry_after_seconds(response)
        return RateLimited(
            f"LinkedIn throttled the request ({code or status}): {message}",
            retry_after=retry_after,
            **details,
        )
    if status in (400, 422) and _is_duplicate(message, input_codes):
        match = _DUPLICATE_URN.search(message)
        return DuplicatePost(
            f"LinkedIn rejected the post as a duplicate: {message}. Change the text or wait "
            "about 10 minutes.",
            duplicate_of=match.group(1) if match else None,
            **{**details, "code": code or "DUPLICATE_POST"},
        )
    if status in (400, 422) and _is_about_commentary(message, input_codes, body):
        length_code = "FIELD_LENGTH_TOO_LONG" if "FIELD_LENGTH_TOO_LONG" in input_codes else None
        return TextRejected(
            f"LinkedIn rejected the post text ({code or length_code or status}): {message}",
            **{**details, "code": code or length_code},
        )
    if status >= 500:
        if creates:
            return OutcomeUnknown(
                f"LinkedIn returned HTTP {status} to a create, so the post may have been "
                f"published: {message}",
                **details,
            )
        return Transient(f"LinkedIn returned HTTP {status}: {message}", **details)
    return LinkedInError(f"LinkedIn returned HTTP {status} ({code or 'no code'}): {message}", **details)


def _transport_error(exc: requests.RequestException, method: str, creates: bool) -> LinkedInError:
    # Name only the exception type, because its text contains the full URL, which for an
    # image upload is a signed path.
    kind = type(exc).__name__
    if _failed_before_sending(exc):
        return Transient(f"Could not connect to LinkedIn for {method} ({kind}). Retry later.")
    if creates:
        # The request left this process, so LinkedIn may have published it. Retrying here
        # could publish twice.
        return OutcomeUnknown(
            f"The connection to LinkedIn failed after the create was sent ({kind}), so the "
            "post may have been published."
        )
    return Transient(f"The connection to LinkedIn failed during {method} ({kind}). Retry later.")


def _failed_before_sending(exc: requests.RequestException) -> bool:
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    # NewConnectionError covers a refused connection and a failed DNS lookup. Any other
    # error, such as a reset or a closed connection, may come after the body was sent.
    return isinstance(reason, NewConnectionError | ConnectTimeoutError)


def _retry_wait(exc: LinkedInError, attempt: int) -> float | None:
    if isinstance(exc, RateLimited) and exc.retry_after is not None:
        return exc.retry_after if exc.retry_after <= MAX_RETRY_AFTER_SECONDS else None
    return _BACKOFF_SECONDS[min(attempt, len(_BACKOFF_SECONDS)) - 1]


def _retry_after_seconds(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        # NOTE: the HTTP-date form of Retry-After is not parsed; it is reported as unknown.
        return None


def _json_body(response: requests.Response) -> Mapping[str, Any]:
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


def _string_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _input_error_codes(body: Mapping[str, Any]) -> set[str]:
    details = body.get("errorDetails")
    if not isinstance(details, dict):
        return set()
    errors = details.get("inputErrors")
    if not isinstance(errors, list):
        return set()
    return {error["code"] for error in errors if isinstance(error, dict) and isinstance(error.get("code"), str)}


def _is_duplicate(message: str, input_codes: set[str]) -> bool:
    return "DUPLICATE_POST" in input_codes or "Content is a duplicate of" in message


def _is_about_commentary(message: str, input_codes: set[str], body: Mapping[str, Any]) -> bool:
    if "FIELD_LENGTH_TOO_LONG" in input_codes:
        return True
    if "commentary" in message.lower():
        return True
    return "commentary" in json.dumps(body.get("errorDetails", {})).lower()
