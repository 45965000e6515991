"""Reading a file someone else named: regular files only, bounded, never blocking.

Every file we read from a path the user (or their environment) gives — price files,
the tiktoken vocabularies of ``OTEL_LLM_COST_TIKTOKEN_DIR``, a LiteLLM file for the
snapshot — goes through :func:`read_regular`. Opened non-blocking and checked with
``fstat`` on the open descriptor: a FIFO with no writer cannot hang the reader (a
vocabulary is loaded while a stream's call waits for it), ``/dev/zero`` or a device
cannot feed it for ever, and the check cannot race with the path being swapped.
:func:`gunzip_bounded` bounds what a small compressed file may expand to.
"""

from __future__ import annotations

import gzip
import io
import os
import stat

__all__ = ["FileRefused", "read_regular", "gunzip_bounded"]


class FileRefused(OSError):
    """The path is not a regular file, or is larger than its bound."""


def read_regular(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """The bytes of the regular file ``path``, at most ``max_bytes`` of them."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused(f"{os.fspath(path)}: not a regular file (a FIFO, device or directory)")
        if info.st_size > max_bytes:
            raise FileRefused(f"{os.fspath(path)}: {info.st_size} bytes is larger than the {max_bytes} byte limit")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(max_bytes + 1)
        if len(data) > max_bytes:  # grew after the fstat
            raise FileRefused(f"{os.fspath(path)}: larger than the {max_bytes} byte limit")
        return data
    finally:
        os.close(fd)


def gunzip_bounded(data: bytes, max_bytes: int, what: str = "file") -> bytes:
    """``data`` decompressed, refused if it expands past ``max_bytes``."""
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
        out = fh.read(max_bytes + 1)
    if len(out) > max_bytes:
        raise FileRefused(f"{what}: expands past the {max_bytes} byte limit")
    return out
