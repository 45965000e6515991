"""Making a span's values storable, so that one odd value never costs a batch its rows.

Why. Span attributes come from the application, its callers and the provider's reply:
a gateway may answer ``"model": "gpt-4o\ud800"`` (a lone UTF-16 surrogate, which the SDKs
pass through), a session id decoded from client JSON may carry a NUL, and a JWT used as
a user id is kilobytes long. SQLite cannot encode a lone surrogate, PostgreSQL refuses
NUL in text and a btree index row over ~2.7 kB. Each used to fail the whole batch.

What. Every text value is made storable the same way wherever it is written or looked
up (:func:`storable`): lone surrogates become U+FFFD, NUL is removed, and a value longer
than :data:`MAX_TEXT` characters becomes a readable prefix and a SHA-256 digest of the
whole cleaned value (:func:`storable` of the same id is the same string, so ``otel-llm-cost
session <a long id>`` finds its rows). A row that still fails is quarantined, never
dropped (``_exporter``).
"""

from __future__ import annotations

__all__ = ["MAX_TEXT", "storable", "DIGEST_MARK"]

#: Longest text stored as it is (characters); longer values are stored as a digest.
MAX_TEXT = 256
#: Between the kept prefix and the digest of an over-long value.
DIGEST_MARK = "…sha256:"
#: Prefix kept of an over-long value: the digest (64 hex) and the mark fit in MAX_TEXT.
_PREFIX = MAX_TEXT - len(DIGEST_MARK) - 64


def storable(value: str) -> str:
    """``value`` as the ledger stores and matches it (see the module docstring)."""
    if value.isascii():
        text = value.replace("\x00", "") if "\x00" in value else value
    else:
        # Paired surrogates (how some decoders leave astral characters) are joined, lone
        # ones replaced; then NUL removed.
        text = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace").replace("\x00", "")
    if len(text) <= MAX_TEXT:
        return text
    import hashlib  # here, not at the top: loading OpenSSL is a few ms of every report's start

    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return f"{text[:_PREFIX]}{DIGEST_MARK}{digest}"
