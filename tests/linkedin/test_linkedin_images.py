"""Reading the format and size of JPEG, PNG and GIF headers."""

from __future__ import annotations

import pytest

from linkedin.errors import InvalidImage
from linkedin.images import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, detect_content_type, inspect_image
from tests.linkedin.image_bytes import gif_bytes, jpeg_bytes, png_bytes


def test_inspect_png():
    assert inspect_image(png_bytes(1200, 627)) == ("image/png", 1200, 627)


def test_inspect_gif():
    assert inspect_image(gif_bytes(320, 200)) == ("image/gif", 320, 200)


def test_inspect_jpeg():
    assert inspect_image(jpeg_bytes(4000, 3000)) == ("image/jpeg", 4000, 3000)


def test_inspect_jpeg_with_fill_bytes_before_frame():
    data = jpeg_bytes(10, 20)
    data = data[:2] + b"\xff\xff" + data[2:]
    assert inspect_image(data) == ("image/jpeg", 10, 20)


@pytest.mark.parametrize(
    "data",
    [b"", b"not an image", b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"%PDF-1.7", b"\x00\x00\x00\x18ftypheic"],
)
def test_other_formats_rejected(data):
    assert detect_content_type(data) is None
    with pytest.raises(InvalidImage):
        inspect_image(data)


@pytest.mark.parametrize(
    "data",
    [png_bytes()[:20], gif_bytes()[:8], b"\xff\xd8\xff\xe0\x00\x10JFIF", b"\xff\xd8\xff\xda\x00\x08"],
)
def test_truncated_headers_rejected(data):
    with pytest.raises(InvalidImage):
        inspect_image(data)


def test_limits():
    assert MAX_IMAGE_BYTES == 10 * 1024 * 1024
    assert MAX_IMAGE_PIXELS == 36_152_320
