"""A self-contained client for LinkedIn's OAuth, Posts, Images and organization APIs.

This package imports nothing else of companycore, stores nothing and never logs a token
or a post's text. The modules:

- `oauth`: authorization URL, code exchange, refresh, introspection, revocation.
- `client`: identity, postable Pages, image upload and post creation for one token.
- `little_text`: escaping the user's text into LinkedIn's commentary format.
- `images`: format and pixel-size checks done before an upload.
- `errors`: exceptions typed by what the caller must do next.
- `http`: the shared HTTP layer with timeouts, read retries and error mapping.
"""

from linkedin.client import (
    POSTING_ROLES,
    CreatedPost,
    Identity,
    LinkedInClient,
    RecentPost,
    organization_urn,
    post_url,
)
from linkedin.errors import (
    DuplicatePost,
    ImageProcessingFailed,
    ImageProcessingTimeout,
    InvalidImage,
    LinkedInError,
    OAuthError,
    OutcomeUnknown,
    PermissionDenied,
    RateLimited,
    ReconnectRequired,
    RefreshTokenInvalid,
    TextRejected,
    Transient,
    VersionRetired,
)
from linkedin.images import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, ImageInfo, inspect_image
from linkedin.little_text import MAX_POST_CHARS, count_chars, to_commentary
from linkedin.oauth import (
    REQUESTED_SCOPES,
    SCOPE_PURPOSES,
    OAuthClient,
    TokenInfo,
    TokenSet,
    parse_callback,
    parse_scopes,
)
from linkedin.organization_names import OrganizationNames

__all__ = [
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXELS",
    "MAX_POST_CHARS",
    "POSTING_ROLES",
    "REQUESTED_SCOPES",
    "SCOPE_PURPOSES",
    "CreatedPost",
    "DuplicatePost",
    "Identity",
    "ImageInfo",
    "ImageProcessingFailed",
    "ImageProcessingTimeout",
    "InvalidImage",
    "LinkedInClient",
    "LinkedInError",
    "OAuthClient",
    "OAuthError",
    "OrganizationNames",
    "OutcomeUnknown",
    "PermissionDenied",
    "RateLimited",
    "ReconnectRequired",
    "RecentPost",
    "RefreshTokenInvalid",
    "TextRejected",
    "TokenInfo",
    "TokenSet",
    "Transient",
    "VersionRetired",
    "count_chars",
    "inspect_image",
    "organization_urn",
    "parse_callback",
    "parse_scopes",
    "post_url",
    "to_commentary",
]
