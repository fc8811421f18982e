"""A stored run as OpenTelemetry spans, in the OTLP/JSON encoding (`parley trace --format otlp-json`).

One trace per run, nested as `runtime/span_tree.py` decides (the same tree
the live exporter, `parley/otel.py`, sends): the run's `invoke_workflow`
span; under it a span per chat or group; under those (or the run) an
`invoke_agent` span per turn; under a turn its `chat` model calls, its
`execute_tool` calls and a person's `human_input`. A request's retries are
events (`retry`) of its `chat` span, or of the run's span when the request
failed for good. Ids are derived from the run id, so the same run always
gives the same trace. Any OTLP/HTTP collector accepts the output as a body
for `/v1/traces`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from parley.runtime.span_tree import Node, SpanTree

SPAN_KIND_INTERNAL = 1
SPAN_KIND_CLIENT = 3
STATUS_OK = 1
STATUS_ERROR = 2


class _Collected:
    """The spans of the tree, kept as they end (a listener of `SpanTree`)."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []

    def started(self, node: Node) -> None:
        pass

    def ended(self, node: Node) -> None:
        self.nodes.append(node)


def otlp_trace(run: dict[str, Any], events: list[dict[str, Any]], version: str = "",
               capture_content: bool = False) -> dict[str, Any]:
    """The run `run` (a row of the store's runs table) and its events as an OTLP `TracesData` object.

    `capture_content`: keep what agents and people said (masked for secrets), as the live exporter does."""
    collected = _Collected()
    tree = SpanTree(collected, capture_content)
    for event in events:
        if event.get("data") is not None:  # a damaged event says nothing of where it was
            tree.feed(event)
    if tree.run is None:
        tree.feed({"kind": "run_start", "step": None, "file": run["script"], "line": None, "time": run["started"],
                   "data": {"file": run["script"], "run": run["id"]}})
    failed = run["status"] not in ("done", "running")
    tree.finish(run["ended"] or None, (run["error"] or run["status"]) if failed else None)
    trace_id = _hex(run["id"], 32)
    ids = {node.index: _hex(f"{run['id']}/run" if node.parent is None else f"{trace_id}/{node.index}", 16)
           for node in collected.nodes}
    root = tree.run
    assert root is not None
    root.start = min(root.start, float(run["started"]))
    root.end = max(root.start, float(run["ended"] or root.end or root.start))
    root.attributes.update({"gen_ai.conversation.id": run["id"], "parley.run.id": run["id"],
                            "parley.run.status": run["status"], "parley.turns": run["turns"],
                            "parley.tokens": run["tokens"], "parley.cost_usd": run["cost"],
                            "code.file.path": run["script"]})
    if failed:
        root.error = root.error or run["error"] or run["status"]
    spans = [_span(node, trace_id, ids) for node in sorted(collected.nodes, key=lambda n: n.index)]
    return {"resourceSpans": [{
        "resource": {"attributes": _attributes({"service.name": "parley", "parley.run.id": run["id"]})},
        "scopeSpans": [{"scope": {"name": "parley", "version": version}, "spans": spans}],
    }]}


def _span(node: Node, trace_id: str, ids: dict[int, str]) -> dict[str, Any]:
    span: dict[str, Any] = {
        "traceId": trace_id, "spanId": ids[node.index],
        "parentSpanId": ids[node.parent.index] if node.parent is not None else "", "name": node.name,
        "kind": SPAN_KIND_CLIENT if node.client else SPAN_KIND_INTERNAL,
        "startTimeUnixNano": _nanos(node.start), "endTimeUnixNano": _nanos(node.end or node.start),
        "attributes": _attributes(node.attributes),
        "status": {"code": STATUS_ERROR, "message": node.error} if node.error is not None else {"code": STATUS_OK},
    }
    if node.events:
        span["events"] = [{"timeUnixNano": _nanos(when), "name": name, "attributes": _attributes(values)}
                          for name, when, values in node.events]
    return span


def _attributes(values: dict[str, Any]) -> list[dict[str, Any]]:
    """OTLP key/value pairs (absent values are left out, as OpenTelemetry does)."""
    return [{"key": key, "value": _value(value)} for key, value in values.items() if value is not None]


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}  # int64 travels as a string in OTLP/JSON
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [_value(v) for v in value]}}
    return {"stringValue": str(value)}


def _nanos(seconds: float) -> str:
    return str(round(seconds * 1e9))


def _hex(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]
