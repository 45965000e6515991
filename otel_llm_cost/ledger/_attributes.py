"""A call's allow-listed attributes in the ledger (a tenant, a plan): kept on its row, indexed
by (attribute, value, time), and summed per day in the rollups — what a budget for
``tenant=acme`` reads.

Why a JSON column *and* a side table. The row stays the one truth and self-contained:
``llm_calls.attributes`` holds the allow-listed attributes of the call as canonical JSON
(``{"tenant": "acme"}``), so a spooled batch, a quarantined row, ``ledger prune`` (which
subtracts what it deletes) and ``ledger verify`` (which recomputes) see them with the
rest of the row and need no second source. Which attributes a deployment keeps is
configuration (any names, changing over time), so they cannot be columns of their own;
the side table ``llm_call_attributes`` (one row per call and attribute) is their index:
its primary key (name, value, end_time_unix_nano, …) makes "tenant=acme between these
two instants" a range of one index. It is written in the rows' transaction, from the same
JSON, and never read for anything the rollups hold: whole UTC days come from the rollup
dim ``attr:<name>`` (key: the value), only the partial days at a budget period's edges
from this index.

Which attributes. ``OTEL_LLM_COST_LEDGER_ATTRIBUTES`` (``ledger_attributes``), else the
metric allow-list ``OTEL_LLM_COST_METRIC_ATTRIBUTES``: a deployment that labels its
metrics by tenant gets tenant budgets without a second setting, and one whose tenants are
too many for metric series (cardinality) but fine for a table lists them for the ledger
alone. ``user.id``, ``session.id`` and ``service.name`` have columns of their own and are
never repeated here.

Values are hostile input (a header, a JWT, a client's JSON): scalars only, made storable
by the one rule of the ledger (``_values.storable``: lone surrogates replaced, NUL
removed, over 256 characters a readable prefix and a SHA-256 digest), so the same value
always gives the same key, in the row, the index, the rollup and a budget's lookup.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .. import semconv
from ._values import storable

__all__ = ["DIM_PREFIX", "SQLITE_V8", "PG_V8", "allowed", "attribute_text", "encode", "decode", "dim",
           "index", "unindex", "index_rows", "INDEX_TABLE"]

#: Rollup dims of attributes are ``attr:<name>``.
DIM_PREFIX = "attr:"
INDEX_TABLE = "llm_call_attributes"
#: Attributes the ledger has columns for: never stored twice.
_COLUMN_ATTRIBUTES = frozenset({semconv.USER_ID, semconv.SESSION_ID, semconv.SERVICE_NAME})

_TABLE = """
CREATE TABLE llm_call_attributes (
    name                TEXT   NOT NULL,
    value               TEXT   NOT NULL,
    end_time_unix_nano  {int}  NOT NULL,
    trace_id            TEXT   NOT NULL,
    span_id             TEXT   NOT NULL,
    PRIMARY KEY (name, value, end_time_unix_nano, trace_id, span_id)
){tail}
"""
#: Schema version 8: the column, and its index table (the ``service`` rollup dim is built
#: by the step in ``_schema``/``_pg``).
SQLITE_V8 = "ALTER TABLE llm_calls ADD COLUMN attributes TEXT;" + _TABLE.format(int="INTEGER", tail=" WITHOUT ROWID")
PG_V8 = "ALTER TABLE llm_calls ADD COLUMN attributes TEXT;" + _TABLE.format(int="BIGINT", tail="")


def allowed(names: Iterable[str] | None = None) -> tuple[str, ...]:
    """The attribute names the ledger keeps: ``names``, else the setting (see the module
    docstring), without those the ledger has columns for; storable, in order, once each."""
    if names is None:
        from ..config import load

        settings = load()
        names = settings.ledger_attributes if settings.ledger_attributes is not None else settings.metric_attributes
    out: list[str] = []
    for name in names:
        text = storable(str(name).strip())
        if text and text not in _COLUMN_ATTRIBUTES and text not in out:
            out.append(text)
    return tuple(out)


def attribute_text(value: Any) -> str | None:
    """An attribute value as the ledger keys it; None for what is not kept (absent, empty,
    not a scalar). One function for the writer and for a budget's lookup."""
    if value is None or isinstance(value, (list, tuple, dict, bytes)):
        return None
    text = storable(str(value))
    return text or None


def encode(attributes: Mapping[str, Any], names: Sequence[str]) -> str | None:
    """The row's ``attributes`` column: the allow-listed ``names`` the call has, as
    canonical JSON (sorted keys); None when it has none."""
    kept = {}
    for name in names:
        text = attribute_text(attributes.get(name))
        if text is not None:
            kept[name] = text
    return json.dumps(kept, sort_keys=True, ensure_ascii=False, separators=(",", ":")) if kept else None


def decode(text: Any) -> dict[str, str]:
    """The attributes of a row's column (``{}`` for none, or for text that is not ours)."""
    if not text:
        return {}
    try:
        value = json.loads(str(text))
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, str) and k}


def dim(name: str) -> str:
    """The rollup dim of attribute ``name``."""
    return DIM_PREFIX + name


def index_rows(rows: Iterable[Sequence[Any]]) -> list[tuple[str, str, int, str, str]]:
    """The ``llm_call_attributes`` rows of ledger rows (``COLUMNS`` order)."""
    from ._schema import COLUMNS

    at, end, trace, span = (COLUMNS.index(c) for c in ("attributes", "end_time_unix_nano", "trace_id", "span_id"))
    out = []
    for row in rows:
        if len(row) > at and row[at]:
            out += [(name, value, int(row[end]), row[trace], row[span]) for name, value in decode(row[at]).items()]
    return out


def index(conn: Any, kind: str, rows: Iterable[Sequence[Any]]) -> None:
    """Index the attributes of ``rows`` the database just inserted (in the open transaction)."""
    entries = index_rows(rows)
    if not entries:
        return
    if kind == "sqlite":
        conn.executemany(f"INSERT OR IGNORE INTO {INDEX_TABLE} (name, value, end_time_unix_nano, trace_id, span_id) "
                         "VALUES (?, ?, ?, ?, ?)", entries)
    else:
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO {INDEX_TABLE} (name, value, end_time_unix_nano, trace_id, span_id) "
                            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING", entries)


def unindex(conn: Any, kind: str, rows: Iterable[Sequence[Any]]) -> None:
    """Drop the index entries of ``rows`` deleted from the ledger (``ledger prune``)."""
    entries = index_rows(rows)
    if not entries:
        return
    mark = "?" if kind == "sqlite" else "%s"
    sql = (f"DELETE FROM {INDEX_TABLE} WHERE name = {mark} AND value = {mark} AND end_time_unix_nano = {mark} "
           f"AND trace_id = {mark} AND span_id = {mark}")
    if kind == "sqlite":
        conn.executemany(sql, entries)
    else:
        with conn.cursor() as cur:
            cur.executemany(sql, entries)


def index_problems(conn: Any, lo: int, hi: int) -> list[str]:
    """Differences between the index and the rows' ``attributes`` over ``[lo, hi)``."""
    from ._schema import COLUMNS

    rows = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM llm_calls WHERE end_time_unix_nano >= {lo} "
                        f"AND end_time_unix_nano < {hi} AND attributes IS NOT NULL").fetchall()
    want = set(index_rows(rows))
    have = {(str(n), str(v), int(e), str(t), str(s)) for n, v, e, t, s in conn.execute(
        f"SELECT name, value, end_time_unix_nano, trace_id, span_id FROM {INDEX_TABLE} "
        f"WHERE end_time_unix_nano >= {lo} AND end_time_unix_nano < {hi}").fetchall()}
    return ([f"{INDEX_TABLE}: missing {n}={v!r} of call {t}/{s}" for n, v, _e, t, s in sorted(want - have)]
            + [f"{INDEX_TABLE}: {n}={v!r} of call {t}/{s} is no attribute of a row"
               for n, v, _e, t, s in sorted(have - want)])
