"""Safe decoding of uploaded photos: JPEG or PNG only, size checked before decoding.

A small file can declare a huge image (a "decompression bomb"), so the dimensions are read
from the file header and checked against a pixel cap before OpenCV decodes anything.
"""

from __future__ import annotations

import struct

import cv2
import numpy as np

MAX_PIXELS = 4096 * 4096

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (baseline, progressive, lossless...), i.e. not DHT/JPG/DAC.
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


class UploadError(ValueError):
    """An uploaded photo was refused; the message says why, in one sentence."""


def image_kind_and_size(data: bytes) -> tuple[str, int, int]:
    """Return ``(kind, width, height)`` read from a JPEG or PNG header, without decoding.

    Raises:
        UploadError: not a JPEG or PNG, or a header that cannot be parsed.
    """
    if data.startswith(_PNG_MAGIC):
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise UploadError("the PNG file is truncated or malformed")
        width, height = struct.unpack(">II", data[16:24])
        return "png", width, height
    if data.startswith(b"\xff\xd8"):
        return ("jpeg", *_jpeg_size(data))
    raise UploadError("the photo must be a JPEG or PNG image")


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """Walk the JPEG marker segments up to the first start-of-frame."""
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise UploadError("the JPEG file is malformed")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # segments without a length
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _JPEG_SOF:
            if pos + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        pos += 2 + length
    raise UploadError("the JPEG file is truncated or malformed")


def decode_photo(data: bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode an uploaded JPEG or PNG into an RGB uint8 array after checking its size.

    Raises:
        UploadError: wrong type, too many pixels, or undecodable data.
    """
    _kind, width, height = image_kind_and_size(data)
    if width <= 0 or height <= 0:
        raise UploadError("the photo has no pixels")
    if width * height > max_pixels:
        raise UploadError(
            f"the photo is {width}x{height}; at most {max_pixels:,} pixels are accepted"
        )
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None or bgr.shape[0] * bgr.shape[1] > max_pixels:
        raise UploadError("the photo could not be decoded")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
