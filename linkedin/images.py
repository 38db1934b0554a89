"""Image checks done before anything is sent to LinkedIn.

LinkedIn's Images API accepts JPEG, PNG and GIF. This module reads the format and the pixel
size from the file header with no extra dependencies, so the app can reject a file before
uploading it. It never decodes the pixel data, so a file with a valid header but corrupt
content still passes here and fails later on LinkedIn with PROCESSING_FAILED.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from linkedin.errors import InvalidImage

# The app's own upload limit. LinkedIn documents no byte limit for images.
MAX_IMAGE_BYTES = 10 * 1024 * 1024
# LinkedIn's documented maximum is "fewer than 36,152,320 pixels" (width times height).
MAX_IMAGE_PIXELS = 36_152_320

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_GIF_SIGNATURES = (b"GIF87a", b"GIF89a")
_JPEG_SIGNATURE = b"\xff\xd8\xff"

# JPEG start-of-frame markers carry the image size. C4 (DHT), C8 (JPG) and CC (DAC) share
# the range but are not frames.
_JPEG_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers with no length field after them.
_JPEG_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD9)})
_JPEG_START_OF_SCAN = 0xDA


class ImageInfo(NamedTuple):
    content_type: str
    width: int
    height: int


def detect_content_type(data: bytes) -> str | None:
    """Return image/jpeg, image/png or image/gif from the magic bytes, or None."""
    if data.startswith(_JPEG_SIGNATURE):
        return "image/jpeg"
    if data.startswith(_PNG_SIGNATURE):
        return "image/png"
    if data.startswith(_GIF_SIGNATURES):
        return "image/gif"
    return None


def inspect_image(data: bytes) -> ImageInfo:
    """Read the content type, width and height from a JPEG, PNG or GIF header.

    Raises InvalidImage when the bytes are of another format or the header is truncated.
    """
    content_type = detect_content_type(data)
    if content_type == "image/png":
        width, height = _png_size(data)
    elif content_type == "image/gif":
        width, height = _gif_size(data)
    elif content_type == "image/jpeg":
        width, height = _jpeg_size(data)
    else:
        raise InvalidImage("The file is not a JPEG, PNG or GIF image. Upload one of those formats.")

    if width <= 0 or height <= 0:
        raise InvalidImage(f"The {content_type} header gives an empty size {width}x{height}.")
    return ImageInfo(content_type, width, height)


def _png_size(data: bytes) -> tuple[int, int]:
    # The IHDR chunk must come first: length (4), type (4), width (4), height (4).
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise InvalidImage("The PNG file has no IHDR header.")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _gif_size(data: bytes) -> tuple[int, int]:
    # The logical screen size follows the 6-byte signature, little-endian.
    if len(data) < 10:
        raise InvalidImage("The GIF file is too short to hold its size.")
    width, height = struct.unpack("<HH", data[6:10])
    return width, height


def _jpeg_size(data: bytes) -> tuple[int, int]:
    offset = 2
    while offset < len(data):
        # Each segment starts with 0xFF, possibly repeated as fill bytes, then the marker.
        if data[offset] != 0xFF:
            raise InvalidImage("The JPEG file has a corrupt segment header.")
        while offset < len(data) and data[offset] == 0xFF:
            offset += 1
        if offset >= len(data):
            break
        marker = data[offset]
        offset += 1

        if marker in _JPEG_STANDALONE_MARKERS:
            continue
        if marker == _JPEG_START_OF_SCAN:
            break
        if offset + 2 > len(data):
            break
        (segment_length,) = struct.unpack(">H", data[offset : offset + 2])

        if marker in _JPEG_SOF_MARKERS:
            # Segment: length (2), precision (1), height (2), width (2).
            if offset + 7 > len(data):
                break
            height, width = struct.unpack(">HH", data[offset + 3 : offset + 7])
            return width, height

        offset += segment_length

    raise InvalidImage("The JPEG file has no frame header with its size.")
