"""Per-key lifetime totals (``llm_key_totals``): the report's top N keys of a window
without visiting every cell of it.

Why. ``report --by session`` shows the 100 most expensive sessions. Ranking them from the
day cells (``_rollup``) reads every session-day cell of the window — at 10M calls a month,
a million cells, most of a second — and counting the sessions another pass. Sessions are
short; nearly all of them lie wholly inside a month's window, where their lifetime total
*is* their window total.

What. One row per (dim, key): the first and last UTC day it has calls, its calls, and its
cost in pico-dollars as ``pico_hi``/``pico_lo`` normalised (``0 <= pico_lo < SPLIT``, so
``(pico_hi, pico_lo)`` orders as the exact sum), indexed by that cost. :func:`top_keys`
walks the keys from the most expensive lifetime down: a key whose days all lie in the
window counts its lifetime total; one that began before the window sums its cells from the
window's first day (one primary-key range); one whose last day is before it is skipped. A
key's window cost is at most its lifetime cost (costs are never negative), so once the
next lifetime cost is below the (N+1)-th best window cost found, no key left can enter the
top N: the walk stops, exactly. The number of keys in the window is an index range count
of ``last_day`` (no cell read).

Exact by construction, as the cells: changed in the rows' transaction by :func:`apply`
(from the same cell deltas), built from the day cells by the v8 → v9 step
(:func:`build_sql`), and compared by ``ledger verify`` with the totals recomputed from the
rows (:func:`expected`).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import Any

from ._money import SPLIT

__all__ = ["ROLLUP_KEY_SQLITE", "ROLLUP_KEY_PG", "apply", "build_sql", "expected", "stored", "top_keys"]

_TABLE = """
CREATE TABLE llm_key_totals (
    dim        TEXT NOT NULL,
    key        TEXT NOT NULL,
    first_day  TEXT NOT NULL,
    last_day   TEXT NOT NULL,
    calls      {int} NOT NULL,
    pico_hi    {int} NOT NULL,
    pico_lo    {int} NOT NULL,
    PRIMARY KEY (dim, key)
){rowid};
CREATE INDEX llm_key_totals_cost ON llm_key_totals (dim, pico_hi, pico_lo, first_day, last_day, calls);
CREATE INDEX llm_key_totals_last ON llm_key_totals (dim, last_day)
"""
ROLLUP_KEY_SQLITE = _TABLE.format(int="INTEGER", rowid=" WITHOUT ROWID")
ROLLUP_KEY_PG = _TABLE.format(int="BIGINT", rowid="")


def build_sql(kind: str) -> str:
    """Every key's totals from the day cells (``llm_rollup``), normalised."""
    hi, lo = "SUM(pico_hi)", "SUM(pico_lo)"
    if kind != "sqlite":  # SUM(bigint) is numeric there: integer division needs bigints
        hi, lo = f"CAST({hi} AS BIGINT)", f"CAST({lo} AS BIGINT)"
    return ("INSERT INTO llm_key_totals (dim, key, first_day, last_day, calls, pico_hi, pico_lo) "
            f"SELECT dim, key, MIN(day), MAX(day), SUM(calls), {hi} + {lo} / {SPLIT}, {lo} % {SPLIT} "
            "FROM llm_rollup GROUP BY dim, key")


def apply(conn: Any, kind: str, changes: dict[tuple[str, str, str], Any], sign: int) -> None:
    """Add (``sign`` 1) or subtract (-1) the day-cell ``changes`` (``_rollup.Cell`` by
    (dim, day, key)) to their keys' totals, in the open transaction and in key order (one
    lock order for concurrent PostgreSQL writers). After a subtraction (prune) a key's
    first and last day are read again from its cells, and a key left without calls is
    dropped."""
    totals: dict[tuple[str, str], list[Any]] = {}
    for (dim, day, key), cell in changes.items():
        pico = sign * (cell.sums[6] * SPLIT + cell.sums[7])
        known = totals.get((dim, key))
        if known is None:
            totals[(dim, key)] = [day, day, sign * cell.sums[0], pico]
        else:
            known[0], known[1] = min(known[0], day), max(known[1], day)
            known[2] += sign * cell.sums[0]
            known[3] += pico
    mark, mod = ("?", "%") if kind == "sqlite" else ("%s", "%%")  # psycopg: a literal % is %%
    least, greatest = ("MIN", "MAX") if kind == "sqlite" else ("LEAST", "GREATEST")
    t = "llm_key_totals"
    upsert = (f"INSERT INTO {t} (dim, key, first_day, last_day, calls, pico_hi, pico_lo) "
              f"VALUES ({', '.join([mark] * 7)}) ON CONFLICT (dim, key) DO UPDATE SET "
              f"first_day = {least}({t}.first_day, excluded.first_day), "
              f"last_day = {greatest}({t}.last_day, excluded.last_day), calls = {t}.calls + excluded.calls, "
              f"pico_hi = {t}.pico_hi + excluded.pico_hi + ({t}.pico_lo + excluded.pico_lo) / {SPLIT}, "
              f"pico_lo = ({t}.pico_lo + excluded.pico_lo) {mod} {SPLIT}")
    # divmod floors: the low part is in [0, SPLIT) even for a subtraction, so both sums
    # above stay non-negative and SQL's truncating / and % are exact.
    params = [(dim, key, first, last, calls, *divmod(pico, SPLIT))
              for (dim, key), (first, last, calls, pico) in sorted(totals.items())]
    keys = [(dim, key) for dim, key, *_ in params]
    drop = f"DELETE FROM {t} WHERE dim = {mark} AND key = {mark} AND calls = 0"
    bounds = (f"UPDATE {t} SET first_day = (SELECT MIN(day) FROM llm_rollup c WHERE c.dim = {t}.dim "
              f"AND c.key = {t}.key), last_day = (SELECT MAX(day) FROM llm_rollup c WHERE c.dim = {t}.dim "
              f"AND c.key = {t}.key) WHERE dim = {mark} AND key = {mark}")
    if kind == "sqlite":
        conn.executemany(upsert, params)
        if sign < 0:
            conn.executemany(drop, keys)
            conn.executemany(bounds, keys)
        return
    with conn.cursor() as cur:
        cur.executemany(upsert, params)
        if sign < 0:
            cur.executemany(drop, keys)
            cur.executemany(bounds, keys)


def expected(cells: dict[tuple[str, str, str], Any]) -> dict[tuple[str, str], tuple[str, str, int, int, int]]:
    """The key totals that day ``cells`` (by (dim, day, key)) give: what ``llm_key_totals``
    must hold."""
    out: dict[tuple[str, str], list[Any]] = {}
    add_expected(out, cells)
    return finish_expected(out)


def add_expected(out: dict[tuple[str, str], list[Any]], cells: dict[tuple[str, str, str], Any]) -> None:
    """Add some day ``cells`` to the running key totals ``out`` (see :func:`expected`)."""
    for (dim, day, key), cell in cells.items():
        pico = cell.sums[6] * SPLIT + cell.sums[7]
        known = out.get((dim, key))
        if known is None:
            out[(dim, key)] = [day, day, cell.sums[0], pico]
        else:
            known[0], known[1] = min(known[0], day), max(known[1], day)
            known[2] += cell.sums[0]
            known[3] += pico


def finish_expected(out: dict[tuple[str, str], list[Any]]) -> dict[tuple[str, str], tuple[str, str, int, int, int]]:
    """The running totals of :func:`add_expected` as ``llm_key_totals`` holds them."""
    return {name: total(running) for name, running in out.items()}


def total(running: list[Any]) -> tuple[str, str, int, int, int]:
    """One key's running ``[first, last, calls, pico]`` as its stored row (pico split)."""
    first, last, calls, pico = running
    return (first, last, calls, *divmod(pico, SPLIT))


def stored(conn: Any) -> dict[tuple[str, str], tuple[str, str, int, int, int]]:
    """What ``llm_key_totals`` holds."""
    return {(dim, key): (str(first), str(last), int(calls), int(hi), int(lo))
            for dim, key, first, last, calls, hi, lo in conn.execute(
                "SELECT dim, key, first_day, last_day, calls, pico_hi, pico_lo FROM llm_key_totals").fetchall()}


def stored_pages(conn: Any, kind: str,
                 page: int = 10_000) -> Iterator[tuple[tuple[str, str], tuple[str, str, int, int, int]]]:
    """What ``llm_key_totals`` holds, as :func:`stored` gives it, read ``page`` keys per
    statement in the table's key order (so that no client holds the whole table)."""
    mark = "?" if kind == "sqlite" else "%s"
    last: tuple[str, str] | None = None
    while True:
        after, params = ("", (page,)) if last is None else (f"WHERE (dim, key) > ({mark}, {mark}) ", (*last, page))
        rows = conn.execute("SELECT dim, key, first_day, last_day, calls, pico_hi, pico_lo FROM llm_key_totals "
                            f"{after}ORDER BY dim, key LIMIT {mark}", params).fetchall()
        for dim, key, first, last_day, calls, hi, lo in rows:
            yield (dim, key), (str(first), str(last_day), int(calls), int(hi), int(lo))
        if len(rows) < page:
            return
        last = (rows[-1][0], rows[-1][1])


#: Keys the walk may read before it gives up (then the window's cells are ranked instead).
WALK_BUDGET = 50_000


def top_keys(store: Any, dim: str, first_day: str | None, top: int,
             budget: int | None = None) -> tuple[list[str], int] | None:
    """The ``top`` keys of ``dim`` with the largest cost over the whole days from
    ``first_day`` on (every day when None) — ties by more calls, then by key — and how many
    keys have calls in those days; None when the walk would read more than ``budget`` keys
    (a window that holds few of the most expensive keys ever): then the caller ranks the
    cells.
    """
    need = top + 1
    budget = max(WALK_BUDGET, 50 * need) if budget is None else budget
    limit = min(4 * need + 64, budget)
    window: dict[str, tuple[int, int]] = {}  # the window totals of the keys that began before it
    while True:
        rows = store.query("SELECT key, first_day, last_day, calls, pico_hi, pico_lo FROM llm_key_totals "
                           "WHERE dim = ? ORDER BY pico_hi DESC, pico_lo DESC LIMIT ?", (dim, limit))
        done = len(rows) < limit
        best: list[tuple[int, int, str]] = []
        heap: list[int] = []  # the ``need`` largest window costs so far (a min-heap)
        for key, first, last, calls, hi, lo in rows:
            life = int(hi) * SPLIT + int(lo)
            if len(heap) == need and life < heap[0]:
                done = True  # no key from here on can cost as much as the top N
                break
            if first_day is not None and str(last) < first_day:
                continue  # no calls in the window
            if first_day is None or str(first) >= first_day:
                pico, count = life, int(calls)
            else:
                if key not in window:
                    [(p_hi, p_lo, n)] = store.query(
                        "SELECT SUM(pico_hi), SUM(pico_lo), SUM(calls) FROM llm_rollup WHERE dim = ? AND key = ? "
                        "AND day >= ?", (dim, key, first_day))
                    window[key] = (int(p_hi or 0) * SPLIT + int(p_lo or 0), int(n or 0))
                pico, count = window[key]
            best.append((pico, count, str(key)))
            if len(heap) < need:
                heapq.heappush(heap, pico)
            elif pico > heap[0]:
                heapq.heapreplace(heap, pico)
        if done:
            break
        if limit >= budget:
            return None
        limit = min(4 * limit, budget)
    # As the report orders its groups (``_report.by_cost``): a key without a value is "(none)".
    best.sort(key=lambda entry: (-entry[0], -entry[1], entry[2] or "(none)"))
    if first_day is None:
        [(keys,)] = store.query("SELECT COUNT(*) FROM llm_key_totals WHERE dim = ?", (dim,))
    else:
        [(keys,)] = store.query("SELECT COUNT(*) FROM llm_key_totals WHERE dim = ? AND last_day >= ?",
                                (dim, first_day))
    return [key for _, _, key in best[:top]], int(keys)
