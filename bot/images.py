"""Images a user uploads into a draft's thread: download from Slack and check before storing.

Only JPEG, PNG and GIF files of at most 10 MB and 36,152,320 pixels are kept, checked by
their magic bytes and header, never by the name or the MIME type Slack reports. The bot
token goes only to Slack's file URL in the Authorization header, never into a log line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import requests

from linkedin.errors import InvalidImage
from linkedin.images import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, inspect_image

logger = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_SECONDS = 30
_CHUNK_BYTES = 64 * 1024


class ImageRejected(Exception):
    """The file cannot be attached. `str()` says what was wrong and what to do."""


@dataclass(frozen=True)
class CheckedImage:
    data: bytes
    content_type: str
    width: int
    height: int
    filename: str


def download(url: str, bot_token: str, *, max_bytes: int = MAX_IMAGE_BYTES, timeout: float = DOWNLOAD_TIMEOUT_SECONDS) -> bytes:
    """Download a Slack file with the bot token, stopping once it grows past `max_bytes`."""
    try:
        with requests.get(url, headers={"Authorization": f"Bearer {bot_token}"}, stream=True, timeout=timeout) as response:
            if response.status_code != 200:
                raise ImageRejected(f"Slack did not hand over the file (HTTP {response.status_code}). Upload it again.")
            return _read_limited(response, max_bytes)
    except requests.RequestException as error:
        logger.warning("downloading a Slack file failed: %s", type(error).__name__)
        raise ImageRejected("The file could not be downloaded from Slack. Upload it again in a minute.") from error


def _read_limited(response: requests.Response, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(_CHUNK_BYTES):
        size += len(chunk)
        if size > max_bytes:
            raise ImageRejected(too_large_message(size, max_bytes))
        chunks.append(chunk)
    return b"".join(chunks)


def too_large_message(size: int, max_bytes: int = MAX_IMAGE_BYTES) -> str:
    return f"The file is larger than {max_bytes // (1024 * 1024)} MB ({size:,} bytes or more). Upload a smaller image."


def check_image(data: bytes, filename: str) -> CheckedImage:
    """Check format, byte size and pixel count. Raises ImageRejected with the reason."""
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageRejected(too_large_message(len(data)))
    try:
        info = inspect_image(data)
    except InvalidImage as error:
        raise ImageRejected(f"{filename or 'The file'} is not a JPEG, PNG or GIF image, so it cannot go on LinkedIn. Upload one of those formats.") from error
    pixels = info.width * info.height
    if pixels > MAX_IMAGE_PIXELS:
        raise ImageRejected(
            f"{filename or 'The image'} is {info.width}x{info.height} pixels ({pixels:,}); LinkedIn accepts fewer than "
            f"{MAX_IMAGE_PIXELS:,}. Upload a smaller image."
        )
    return CheckedImage(data=data, content_type=info.content_type, width=info.width, height=info.height, filename=filename)


def fetch_image(file: dict, bot_token: str) -> CheckedImage:
    """Download and check one Slack file object from a `file_share` message."""
    name = str(file.get("name") or file.get("title") or "")
    size = file.get("size")
    if isinstance(size, int) and size > MAX_IMAGE_BYTES:
        raise ImageRejected(too_large_message(size))
    url = file.get("url_private_download") or file.get("url_private")
    if not url:
        raise ImageRejected(f"Slack sent {name or 'the file'} without a download link. Upload it again.")
    return check_image(download(url, bot_token), name)
