"""Width and height of an image from the first bytes of its file, without Pillow.

OpenAI bills an image by its pixel size, and a request that inlines an image as a
``data:`` URL carries that size in the file header. Reading the header ourselves
keeps the package free of an imaging dependency and costs microseconds: PNG, GIF and
WebP put the size at a fixed offset; JPEG needs a walk over its segments to the
start-of-frame marker. Anything unrecognised or truncated yields ``None`` — the
caller then counts the image at its documented minimum and says so.
"""

from __future__ import annotations

import base64
import binascii
import struct

__all__ = ["image_size", "data_url_bytes"]

#: Start-of-frame markers that carry the size (not DHT 0xC4, JPG 0xC8, DAC 0xCC).
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
#: Enough of a data URL to hold any of the headers below in most files.
_PREFIX_CHARS = 64 * 1024


def data_url_bytes(url: str, whole: bool = False) -> bytes | None:
    """The decoded bytes of a base64 ``data:`` URL: a prefix, or all of it when ``whole``.

    A prefix is enough for PNG/GIF/WebP and for most JPEGs; a JPEG whose metadata
    pushes the frame header further is decoded in full on a second try.
    """
    if not url.startswith("data:"):
        return None
    head, sep, payload = url.partition(",")
    if not sep or ";base64" not in head:
        return None
    if not whole:
        payload = payload[:_PREFIX_CHARS]
    payload = payload[: len(payload) // 4 * 4]
    try:
        return base64.b64decode(payload)
    except (binascii.Error, ValueError):
        return None


def image_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` of a PNG, GIF, WebP or JPEG file's bytes; None if unknown."""
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            return _positive(*struct.unpack(">II", data[16:24]))
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return _positive(*struct.unpack("<HH", data[6:10]))
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp(data)
        if data[:2] == b"\xff\xd8":
            return _jpeg(data)
    except struct.error:  # truncated header
        return None
    return None


def _positive(width: int, height: int) -> tuple[int, int] | None:
    return (width, height) if width > 0 and height > 0 else None


def _webp(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 ":  # lossy: 14-bit sizes after the key-frame start code
        if data[23:26] != b"\x9d\x01\x2a":
            return None
        width, height = struct.unpack("<HH", data[26:30])
        return _positive(width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L":  # lossless: 14-bit sizes minus one, packed after the signature
        if data[20] != 0x2F:
            return None
        bits = int.from_bytes(data[21:25], "little")
        return _positive((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X":  # extended: 24-bit canvas sizes minus one
        return _positive(int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1)
    return None


def _jpeg(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            i += 2
            continue
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in _SOF:
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return _positive(width, height)
        i += 2 + length
    return None
