"""The LinkedIn API client for one member's access token: identity, Pages, images and posts.

Publishing a post:
1. Check every image's magic bytes and size, before any HTTP call.
2. Upload each image with the post's author as owner and wait until LinkedIn reports it
   AVAILABLE.
3. Escape the user's text as little text and POST /rest/posts once.
4. Read the new post's URN from the `x-restli-id` header.

This client must never retry a post creation, never truncate a post's text, never log a
token or a post's text, and never store anything it reads from LinkedIn.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from linkedin.errors import (
    ImageProcessingFailed,
    ImageProcessingTimeout,
    InvalidImage,
    LinkedInError,
    OutcomeUnknown,
    TextRejected,
)
from linkedin.http import (
    DEFAULT_READ_ATTEMPTS,
    DEFAULT_TIMEOUT,
    HttpLayer,
    Timeout,
    encode_urn,
    rest_headers,
)
from linkedin.images import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, inspect_image
from linkedin.little_text import MAX_POST_CHARS, count_chars, to_commentary
from linkedin.organization_names import OrganizationNames

logger = logging.getLogger(__name__)

PERSON_URN_PREFIX = "urn:li:person:"
ORGANIZATION_URN_PREFIX = "urn:li:organization:"

# Roles in an organization ACL that allow posting as the Page.
POSTING_ROLES = frozenset({"ADMINISTRATOR", "CONTENT_ADMINISTRATOR", "DIRECT_SPONSORED_CONTENT_POSTER"})
ACL_PAGE_SIZE = 100
# A guard against a paging loop that never ends: 100 pages of 100 ACLs.
MAX_ACL_PAGES = 100

MAX_IMAGES_PER_POST = 20
MAX_ALT_TEXT_CHARS = 4086
VISIBILITIES = ("PUBLIC", "CONNECTIONS")


@dataclass(frozen=True)
class Identity:
    """The connected member, from GET /v2/me."""

    member_id: str
    first_name: str
    last_name: str

    @property
    def member_urn(self) -> str:
        return f"{PERSON_URN_PREFIX}{self.member_id}"


@dataclass(frozen=True)
class CreatedPost:
    """A post LinkedIn accepted: its URN and its public URL."""

    urn: str
    url: str


@dataclass(frozen=True)
class RecentPost:
    """One of an author's recent posts, for reconciliation only. Never store it.

    `commentary` is LinkedIn's escaped little text, so compare it with `to_commentary(text)`.
    """

    urn: str
    commentary: str
    created_at_ms: int | None


def post_url(urn: str) -> str:
    """Return the public URL of a post."""
    return f"https://www.linkedin.com/feed/update/{urn}/"


def organization_urn(organization_id: str) -> str:
    """Return the URN of an organization ID such as "2414183"."""
    return f"{ORGANIZATION_URN_PREFIX}{organization_id}"


class LinkedInClient:
    """LinkedIn API calls made with one member's access token.

    `api_url` is the API base such as https://api.linkedin.com and `version` the
    LinkedIn-Version header (YYYYMM). `sleep` is used for read retries and image polling.
    """

    def __init__(
        self,
        access_token: str,
        api_url: str,
        version: str,
        session: requests.Session | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
        read_attempts: int = DEFAULT_READ_ATTEMPTS,
        image_poll_interval: float = 1.0,
        image_poll_timeout: float = 60.0,
        organization_names: OrganizationNames | None = None,
    ):
        self._access_token = access_token
        self.api_url = api_url.rstrip("/")
        self.version = version
        self._http = HttpLayer(session, timeout, sleep, read_attempts)
        self._sleep = sleep
        self.image_poll_interval = image_poll_interval
        self.image_poll_timeout = image_poll_timeout
        self._organization_names = organization_names

    def __repr__(self) -> str:
        return f"LinkedInClient(api_url={self.api_url!r}, version={self.version!r})"

    # Identity and Pages

    def get_identity(self) -> Identity:
        """Return the member's ID and localized name from GET /v2/me."""
        response = self._http.read(f"{self.api_url}/v2/me", headers=self._bearer())
        body = _json_object(response)

        member_id = body.get("id")
        if not isinstance(member_id, str) or not member_id:
            raise LinkedInError("LinkedIn's /v2/me response has no member id.", status=response.status_code)
        return Identity(
            member_id=member_id,
            first_name=_string(body.get("localizedFirstName")),
            last_name=_string(body.get("localizedLastName")),
        )

    def list_postable_organization_ids(self) -> list[str]:
        """Return the IDs of the Pages the member may post for, in LinkedIn's order.

        All APPROVED roles are requested, not only ADMINISTRATOR, so content administrators
        and sponsored content posters are included.
        """
        organization_ids: list[str] = []
        start = 0

        for _ in range(MAX_ACL_PAGES):
            url = (
                f"{self.api_url}/rest/organizationAcls?q=roleAssignee&state=APPROVED"
                f"&start={start}&count={ACL_PAGE_SIZE}"
            )
            body = _json_object(self._http.read(url, headers=self._rest_headers()))
            elements = body.get("elements")
            elements = elements if isinstance(elements, list) else []

            for element in elements:
                organization_id = _postable_organization_id(element)
                if organization_id is not None and organization_id not in organization_ids:
                    organization_ids.append(organization_id)

            if len(elements) < ACL_PAGE_SIZE or not _has_next_page(body):
                return organization_ids
            start += len(elements)

        logger.warning("LinkedIn organization ACL paging stopped after %d pages", MAX_ACL_PAGES)
        return organization_ids

    def get_organization_name(self, organization_id: str) -> str:
        """Return a Page's localized name, from the short-lived cache when one is set."""
        if not organization_id.isdigit():
            raise ValueError(f"Invalid organization ID {organization_id!r}: expected digits only.")
        if self._organization_names is None:
            return self._fetch_organization_name(organization_id)
        return self._organization_names.get_or_fetch(organization_id, self._fetch_organization_name)

    def _fetch_organization_name(self, organization_id: str) -> str:
        response = self._http.read(
            f"{self.api_url}/rest/organizations/{organization_id}", headers=self._rest_headers()
        )
        return _string(_json_object(response).get("localizedName"))

    # Images

    def upload_image(self, owner_urn: str, data: bytes) -> str:
        """Upload a JPEG, PNG or GIF for `owner_urn` and return its image URN once AVAILABLE.

        The owner must be the author of the post that will use the image. Raises
        InvalidImage before any HTTP call when the bytes are not an accepted image.
        """
        _check_author_urn(owner_urn)
        content_type = _check_image(data)

        upload_url, image_urn = self._initialize_upload(owner_urn)

        # LinkedIn requires the bearer token on an image upload, so the URL it returned is
        # checked first: the token must not go to any other host.
        self._check_upload_url(upload_url)
        self._http.send(
            "PUT",
            upload_url,
            data=data,
            headers={**self._bearer(), "Content-Type": content_type},
        )

        self._wait_until_available(image_urn)
        return image_urn

    def _initialize_upload(self, owner_urn: str) -> tuple[str, str]:
        response = self._http.send(
            "POST",
            f"{self.api_url}/rest/images?action=initializeUpload",
            json={"initializeUploadRequest": {"owner": owner_urn}},
            headers=self._rest_headers(),
        )
        value = _json_object(response).get("value")
        value = value if isinstance(value, dict) else {}
        upload_url = value.get("uploadUrl")
        image_urn = value.get("image")
        if not isinstance(upload_url, str) or not isinstance(image_urn, str):
            raise LinkedInError(
                "LinkedIn's initializeUpload response lacks uploadUrl or image.",
                status=response.status_code,
            )
        return upload_url, image_urn

    def _check_upload_url(self, upload_url: str) -> None:
        upload = urlsplit(upload_url)
        api = urlsplit(self.api_url)
        same_origin = (upload.scheme, upload.netloc) == (api.scheme, api.netloc)
        host = upload.hostname or ""
        linkedin_host = upload.scheme == "https" and (
            host == "linkedin.com" or host.endswith(".linkedin.com")
        )
        if not (same_origin or linkedin_host):
            raise LinkedInError(
                f"LinkedIn returned an upload URL on an unexpected host {host!r}; "
                "the image was not uploaded.",
                code="UNEXPECTED_UPLOAD_HOST",
            )

    def _wait_until_available(self, image_urn: str) -> None:
        # NOTE: the timeout counts only the sleeps between polls, not the time of each GET.
        waited = 0.0
        while True:
            response = self._http.read(
                f"{self.api_url}/rest/images/{encode_urn(image_urn)}", headers=self._rest_headers()
            )
            status = _json_object(response).get("status")

            if status == "AVAILABLE":
                return
            if status == "PROCESSING_FAILED":
                raise ImageProcessingFailed(
                    f"LinkedIn could not process image {image_urn}. Upload a different file.",
                    status=response.status_code,
                    code="PROCESSING_FAILED",
                )
            if waited >= self.image_poll_timeout:
                raise ImageProcessingTimeout(
                    f"Image {image_urn} was still {status} after {waited:.1f} s. Retry later.",
                    code=str(status),
                )

            self._sleep(self.image_poll_interval)
            waited += self.image_poll_interval

    # Posts

    def create_post(
        self,
        author_urn: str,
        text: str,
        images: Sequence[tuple[bytes, str]] = (),
        visibility: str = "PUBLIC",
        uploaded_images: Sequence[tuple[str, str]] = (),
    ) -> CreatedPost:
        """Publish a post with the user's raw `text` and optional (bytes, alt text) images.

        `uploaded_images` are (image URN, alt text) pairs from `upload_images`, for callers
        that must finish every upload before they record that the create is being sent.
        The text is escaped here with `to_commentary` and never truncated. `visibility` is
        PUBLIC, or CONNECTIONS for a member's post only. Raises ValueError or InvalidImage
        for bad input before any HTTP call, and OutcomeUnknown when the create was sent but
        its result is unknown.
        """
        _check_author_urn(author_urn)
        _check_visibility(author_urn, visibility)
        _check_images(images)
        if images and uploaded_images:
            raise ValueError("Pass either images or uploaded_images, not both.")

        entries = list(uploaded_images) or self.upload_images(author_urn, images)
        content = _image_content(entries)
        commentary = to_commentary(text)
        body: dict[str, Any] = {
            "author": author_urn,
            "commentary": commentary,
            "visibility": visibility,
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
        if content is not None:
            body["content"] = content

        try:
            # Sent exactly once and never retried: LinkedIn may publish a create whose
            # response is lost, and a second create would publish the post twice.
            response = self._http.send(
                "POST", f"{self.api_url}/rest/posts", json=body, headers=self._rest_headers(), creates=True
            )
        except TextRejected as exc:
            raise _text_rejected(exc, text, commentary) from exc
        except LinkedInError as exc:
            logger.warning(
                "LinkedIn post creation failed: author=%s error=%s status=%s code=%s",
                author_urn,
                type(exc).__name__,
                exc.status,
                exc.code,
            )
            raise

        urn = response.headers.get("x-restli-id")
        if not urn:
            raise OutcomeUnknown(
                "LinkedIn accepted the post but sent no x-restli-id header with its URN.",
                status=response.status_code,
            )
        logger.info("LinkedIn post created: author=%s urn=%s", author_urn, urn)
        return CreatedPost(urn=urn, url=post_url(urn))

    def upload_images(self, author_urn: str, images: Sequence[tuple[bytes, str]]) -> list[tuple[str, str]]:
        """Upload (bytes, alt text) images owned by the author. Return (image URN, alt text) pairs."""
        _check_author_urn(author_urn)
        _check_images(images)
        return [(self.upload_image(author_urn, data), alt_text) for data, alt_text in images]

    def recent_organization_posts(self, organization_urn: str, count: int = 20) -> list[RecentPost]:
        """Return a Page's most recently modified posts, to check whether a post went out.

        The result is for comparison only and must not be stored.
        """
        if not organization_urn.startswith(ORGANIZATION_URN_PREFIX):
            raise ValueError(f"Invalid organization URN {organization_urn!r}: expected urn:li:organization:<id>.")
        url = (
            f"{self.api_url}/rest/posts?q=author&author={encode_urn(organization_urn)}"
            f"&count={int(count)}&sortBy=LAST_MODIFIED"
        )
        elements = _json_object(self._http.read(url, headers=self._rest_headers())).get("elements")

        posts = []
        for element in elements if isinstance(elements, list) else []:
            if not isinstance(element, dict) or not isinstance(element.get("id"), str):
                continue
            created_at = element.get("createdAt")
            posts.append(
                RecentPost(
                    urn=element["id"],
                    commentary=_string(element.get("commentary")),
                    created_at_ms=created_at if isinstance(created_at, int) else None,
                )
            )
        return posts

    # Headers

    def _bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._access_token}"}

    def _rest_headers(self) -> dict[str, str]:
        return rest_headers(self._access_token, self.version)


def _check_author_urn(urn: str) -> None:
    for prefix in (PERSON_URN_PREFIX, ORGANIZATION_URN_PREFIX):
        if urn.startswith(prefix) and len(urn) > len(prefix):
            return
    raise ValueError(f"Invalid author URN {urn!r}: expected urn:li:person:<id> or urn:li:organization:<id>.")


def _check_visibility(author_urn: str, visibility: str) -> None:
    if visibility not in VISIBILITIES:
        raise ValueError(f"Invalid visibility {visibility!r}: expected one of {', '.join(VISIBILITIES)}.")
    if visibility == "CONNECTIONS" and author_urn.startswith(ORGANIZATION_URN_PREFIX):
        raise ValueError("A Page post cannot have CONNECTIONS visibility: use PUBLIC.")


def _check_images(images: Sequence[tuple[bytes, str]]) -> None:
    if len(images) > MAX_IMAGES_PER_POST:
        raise ValueError(f"A post may have at most {MAX_IMAGES_PER_POST} images, not {len(images)}.")
    for data, alt_text in images:
        _check_image(data)
        if len(alt_text) > MAX_ALT_TEXT_CHARS:
            raise ValueError(
                f"Alt text has {len(alt_text)} characters; LinkedIn allows at most {MAX_ALT_TEXT_CHARS}."
            )


def _check_image(data: bytes) -> str:
    info = inspect_image(data)
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidImage(f"The image has {len(data)} bytes; the maximum is {MAX_IMAGE_BYTES}.")
    if info.width * info.height > MAX_IMAGE_PIXELS:
        raise InvalidImage(
            f"The image has {info.width}x{info.height} pixels; LinkedIn allows at most "
            f"{MAX_IMAGE_PIXELS} pixels."
        )
    return info.content_type


def _text_rejected(exc: TextRejected, text: str, commentary: str) -> TextRejected:
    text_chars = count_chars(text)
    commentary_chars = count_chars(commentary)
    if exc.code == "FIELD_LENGTH_TOO_LONG":
        message = (
            f"LinkedIn rejected the post as too long: the text has {text_chars} characters "
            f"({commentary_chars} after escaping), and LinkedIn allows about {MAX_POST_CHARS}. "
            "Shorten the text."
        )
    else:
        message = f"{exc.message} The text has {text_chars} characters ({commentary_chars} after escaping)."
    logger.warning("LinkedIn rejected post text: status=%s code=%s chars=%d", exc.status, exc.code, text_chars)
    return TextRejected(
        message,
        text_chars=text_chars,
        commentary_chars=commentary_chars,
        status=exc.status,
        code=exc.code,
        service_error_code=exc.service_error_code,
    )


def _postable_organization_id(element: object) -> str | None:
    if not isinstance(element, dict):
        return None
    if element.get("state") != "APPROVED" or element.get("role") not in POSTING_ROLES:
        return None
    urn = element.get("organization")
    if not isinstance(urn, str) or not urn.startswith(ORGANIZATION_URN_PREFIX):
        return None
    organization_id = urn[len(ORGANIZATION_URN_PREFIX) :]
    return organization_id if organization_id.isdigit() else None


def _has_next_page(body: dict) -> bool:
    paging = body.get("paging")
    if not isinstance(paging, dict) or not isinstance(paging.get("links"), list):
        # Without links, a full page is the only sign that more pages may exist.
        return True
    return any(isinstance(link, dict) and link.get("rel") == "next" for link in paging["links"])


def _json_object(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise LinkedInError(
            f"LinkedIn returned HTTP {response.status_code} with a body that is not a JSON object.",
            status=response.status_code,
        )
    return body


def _string(value: object) -> str:
    return value if isinstance(value, str) else ""


def _image_content(entries: Sequence[tuple[str, str]]) -> dict | None:
    """Build a post's `content` from (image URN, alt text) pairs: one image or a multi-image."""
    if not entries:
        return None
    media = [{"id": urn, "altText": alt_text} for urn, alt_text in entries]
    if len(media) == 1:
        return {"media": media[0]}
    return {"multiImage": {"images": media}}
