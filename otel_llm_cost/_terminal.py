"""Showing recorded ids (session, user, model, service) safely in a terminal or a CSV file.

Those ids come from the application and its callers (a session id from a request header,
a model name from a response); the ledger keeps them exactly. Printed verbatim, an id
could move the cursor, retitle the terminal, hide text (ESC, CSI, OSC, other C0/C1
controls), forge a table row (a newline) or reorder a line (bidi overrides); in a CSV
file opened in a spreadsheet, a cell starting with ``=`` is a formula.

:func:`printable` escapes every such character visibly (``\\x1b``, ``\\n``, ``\\u202e``),
and the backslash itself, so two different ids never look alike. :func:`csv_cell`
neutralises a formula the way OWASP's CSV-injection guidance says: a leading ``'``.
JSON output needs neither: ``json.dumps`` escapes control characters, and the id stays
exact for programs.
"""

from __future__ import annotations

import unicodedata

__all__ = ["printable", "csv_cell"]

#: Unicode bidirectional formatting characters (LRE … RLO, LRI … PDI, the marks, ALM).
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}
#: Characters that start a formula in Excel, LibreOffice and Google Sheets (OWASP).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _escape(char: str) -> str:
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _unsafe(char: str) -> bool:
    return (char == "\\" or char in _BIDI
            or unicodedata.category(char) in ("Cc", "Zl", "Zp"))  # C0, DEL, C1; line/paragraph separators


def printable(text: str) -> str:
    """``text`` with control, line-breaking and bidi characters (and ``\\``) escaped."""
    if text.isprintable() and "\\" not in text and not any(c in _BIDI for c in text):
        return text  # the common case, one C-level scan
    return "".join(_escape(c) if _unsafe(c) else c for c in text)


def csv_cell(text: str) -> str:
    """``text`` for a CSV cell: prefixed with ``'`` when a spreadsheet would run it as a formula."""
    return "'" + text if text.startswith(_FORMULA_START) else text
