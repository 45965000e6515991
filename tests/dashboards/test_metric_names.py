"""docs/metrics.md must match what the real Prometheus exporter produces.

The table is the reference dashboards and alerts are written against; this test
regenerates the exposition through opentelemetry-exporter-prometheus so the table
cannot drift from the exporter's actual name translation.
"""

from __future__ import annotations

import re

import pytest

from grafana.contract import parse_metrics_table, render_exposition

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="')
_IGNORED = ("target_info", "python_", "process_")


@pytest.fixture(scope="module")
def exposition() -> dict[str, set[str]]:
    """Series name → union of label names seen on it."""
    series: dict[str, set[str]] = {}
    for line in render_exposition().splitlines():
        m = _SAMPLE.match(line)
        if m and not m.group(1).startswith(_IGNORED):
            series.setdefault(m.group(1), set()).update(_LABEL.findall(m.group(2) or ""))
    return series


@pytest.fixture(scope="module")
def types() -> dict[str, str]:
    text = render_exposition()
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))


def test_table_is_not_empty():
    assert len(parse_metrics_table()) == 12


@pytest.mark.parametrize("row", parse_metrics_table(), ids=lambda r: r.otel_name)
def test_every_table_row_is_in_the_exposition(row, exposition, types):
    for name in row.series:
        assert name in exposition, f"{name} ({row.otel_name}) not exported"
        missing = set(row.labels) - exposition[name]
        assert not missing, f"{name} lacks labels {missing}"
    family = re.sub(r"_(bucket|sum|count)$", "", row.series[0]) if row.prom_type == "histogram" else row.series[0]
    assert types.get(family) == row.prom_type


def test_exposition_has_nothing_the_table_lacks(exposition):
    documented = {n for r in parse_metrics_table() for n in r.series}
    assert set(exposition) - documented == set()
