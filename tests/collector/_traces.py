"""Read spans back from the file exporter's OTLP JSON and compare them with the SDK's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _value(v: dict) -> Any:
    (kind, raw), = v.items() if v else (("emptyValue", None),)
    if kind == "intValue":
        return int(raw)
    if kind == "doubleValue":
        return float(raw)
    if kind == "arrayValue":
        return tuple(_value(x) for x in raw.get("values", []))
    return raw  # stringValue, boolValue


def read_spans(path: Path) -> list[dict]:
    """Every span in the file: name, ids (hex), scope, resource and attributes as Python values."""
    spans = []
    if not path.exists():
        return spans
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        for rs in json.loads(line).get("resourceSpans", []):
            resource = {a["key"]: _value(a["value"]) for a in rs.get("resource", {}).get("attributes", [])}
            for ss in rs.get("scopeSpans", []):
                for sp in ss.get("spans", []):
                    spans.append({
                        "name": sp["name"], "trace_id": sp["traceId"].lower(), "span_id": sp["spanId"].lower(),
                        "scope": ss.get("scope", {}).get("name", ""), "resource": resource,
                        "attributes": {a["key"]: _value(a["value"]) for a in sp.get("attributes", [])},
                        "events": [e["name"] for e in sp.get("events", [])],
                    })
    return spans


def sdk_view(span) -> dict:
    """The same fields from an SDK ``ReadableSpan``; sequences as tuples like the JSON side."""
    return {
        "name": span.name, "trace_id": f"{span.context.trace_id:032x}", "span_id": f"{span.context.span_id:016x}",
        "scope": span.instrumentation_scope.name,
        "resource": {k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in span.resource.attributes.items()},
        "attributes": {k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in span.attributes.items()},
        "events": [e.name for e in span.events],
    }
