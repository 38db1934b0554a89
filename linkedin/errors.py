"""Exceptions of the LinkedIn client, typed by what the caller must do next.

Every `LinkedInError` carries LinkedIn's HTTP status, its error code (such as
`EXPIRED_ACCESS_TOKEN` or `invalid_request`), its numeric `serviceErrorCode` and its message.
No exception here may ever carry a token, a client secret or an authorization code.
Messages are built from LinkedIn's error body and fixed text. No exception keeps a
reference to the request, because its headers contain the bearer token.
"""

from __future__ import annotations


class LinkedInError(Exception):
    """A call to LinkedIn failed. Each subclass names what the caller must do."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        service_error_code: int | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.service_error_code = service_error_code

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, status={self.status!r}, "
            f"code={self.code!r}, service_error_code={self.service_error_code!r})"
        )


class ReconnectRequired(LinkedInError):
    """The access token is expired, revoked or invalid (HTTP 401).

    Refresh the token if a refresh token exists; otherwise the member must connect again.
    """


class PermissionDenied(LinkedInError):
    """LinkedIn denied the call (HTTP 403), because a scope is missing or the member lost a Page role."""


class DuplicatePost(LinkedInError):
    """LinkedIn rejected a post as a duplicate of an earlier one (HTTP 422 DUPLICATE_POST).

    `duplicate_of` is the URN of the earlier post when LinkedIn's message names it.
    The user must change the text or wait about 10 minutes.
    """

    def __init__(self, message: str, *, duplicate_of: str | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.duplicate_of = duplicate_of


class TextRejected(LinkedInError):
    """LinkedIn rejected the post's commentary, for example as too long.

    `text_chars` and `commentary_chars` are the lengths, in Unicode code points, of the text
    as written and of its escaped commentary, when the client knew them. The user must fix
    the text. The client never truncates it.
    """

    def __init__(
        self,
        message: str,
        *,
        text_chars: int | None = None,
        commentary_chars: int | None = None,
        **kwargs,
    ):
        super().__init__(message, **kwargs)
        self.text_chars = text_chars
        self.commentary_chars = commentary_chars


class VersionRetired(LinkedInError):
    """LinkedIn no longer serves the requested API version (HTTP 426 NONEXISTENT_VERSION).

    The operator must set LINKEDIN_VERSION to a version LinkedIn still supports.
    """


class RateLimited(LinkedInError):
    """LinkedIn throttled the call (HTTP 429). `retry_after` is in seconds, or None if not sent."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class Transient(LinkedInError):
    """A failure that changed nothing on LinkedIn, so retrying later is safe.

    Raised for a 5xx or a connection failure on a read. For a create it is raised only when
    the connection failed before the request was sent, so a retry cannot publish twice.
    """


class OutcomeUnknown(LinkedInError):
    """A create was sent but no clear response came back, so it may have been published.

    Raised on a read timeout, a dropped connection or any 5xx after the request was sent.
    Never retry blindly: check the author's recent posts first or ask a person.
    """


class ImageProcessingFailed(LinkedInError):
    """LinkedIn reported PROCESSING_FAILED for an uploaded image. Upload a different file."""


class ImageProcessingTimeout(Transient):
    """An uploaded image did not become AVAILABLE in time. Retry the post later."""


class OAuthError(LinkedInError):
    """LinkedIn's OAuth endpoints rejected a request (`code` is the OAuth `error` value).

    Examples: `invalid_request`, `invalid_redirect_uri`, `invalid_client`, or on the
    callback `user_cancelled_login` and `user_cancelled_authorize`.
    """


class RefreshTokenInvalid(OAuthError, ReconnectRequired):
    """The refresh token is invalid, expired or revoked. The member must connect again."""


class InvalidImage(ValueError):
    """The bytes are not a JPEG, PNG or GIF image, or their header cannot be read."""
