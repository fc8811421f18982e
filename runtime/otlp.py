"""A stored run as OpenTelemetry spans, in the OTLP/JSON encoding (`parley trace --format otlp-json`).

One trace per run: a root `invoke_workflow` span for the run, and under it a
`chat` span per model call, an `execute_tool` span per tool call and an
`invoke_agent` span per person's turn, with OpenTelemetry's GenAI attribute
names (`gen_ai.*`) and the `.agent` file and line (`code.file.path`,
`code.line.number`). A request's retries are events (`retry`) of its `chat`
span, or of the run's span when the request failed for good. Ids are derived from the run id, so the same run always
gives the same trace. Any OTLP/HTTP collector accepts the output as a body
for `/v1/traces`.
"""

from __future__ import annotations

import hashlib
from typing import Any

SPAN_KIND_INTERNAL = 1
SPAN_KIND_CLIENT = 3
STATUS_OK = 1
STATUS_ERROR = 2


def otlp_trace(run: dict[str, Any], events: list[dict[str, Any]], version: str = "") -> dict[str, Any]:
    """The run `run` (a row of the store's runs table) and its events as an OTLP `TracesData` object."""
    trace_id = _hex(run["id"], 32)
    root_id = _hex(run["id"] + "/run", 16)
    spans = [_root(run, trace_id, root_id)]
    started_tools: dict[str, dict[str, Any]] = {}
    retries: dict[tuple[Any, ...], list[dict[str, Any]]] = {}  # a request's retries, until its `chat` span
    for event in events:
        data = event["data"]
        if event["kind"] == "retry" and data.get("what") == "request":
            retries.setdefault(_request_of(event), []).append(_retry(event))
        elif event["kind"] == "model_call":
            spans.append(_span(
                trace_id, root_id, event, f"chat {data['model']}", SPAN_KIND_CLIENT, data.get("seconds", 0.0),
                {"gen_ai.operation.name": "chat", "gen_ai.provider.name": data.get("provider", "openai"),
                 "gen_ai.request.model": data["model"], "gen_ai.response.model": data.get("response_model") or "",
                 "gen_ai.usage.input_tokens": data.get("input_tokens", 0),
                 "gen_ai.usage.output_tokens": data.get("output_tokens", 0),
                 "gen_ai.response.finish_reasons": [data.get("finish_reason") or "stop"],
                 "gen_ai.agent.name": data.get("agent"), "parley.cached": data.get("cached", False),
                 "parley.journaled": data.get("journaled", False)},
            ))
            _with_events(spans[-1], retries.pop(_request_of(event), []))
        elif event["kind"] == "tool_call":
            started_tools[data.get("call_id") or data["tool"]] = event
        elif event["kind"] in ("tool_result", "tool_error") and (data.get("call_id") or data["tool"]) in started_tools:
            call = started_tools.pop(data.get("call_id") or data["tool"])
            failed = event["kind"] == "tool_error"
            spans.append(_span(
                trace_id, root_id, event, f"execute_tool {data['tool']}", SPAN_KIND_INTERNAL, data.get("seconds", 0.0),
                {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": data["tool"],
                 "gen_ai.tool.call.id": data.get("call_id"), "gen_ai.agent.name": call["data"].get("agent"),
                 **({"error.type": "tool_error"} if failed else {})},
                error=data.get("error") if failed else None,
            ))
        elif event["kind"] == "human_input":
            spans.append(_span(
                trace_id, root_id, event, f"invoke_agent {data['agent']}", SPAN_KIND_INTERNAL, 0.0,
                {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": data["agent"]},
            ))
    _with_events(spans[0], [retry for left in retries.values() for retry in left])  # requests that failed for good
    return {"resourceSpans": [{
        "resource": {"attributes": _attributes({"service.name": "parley", "parley.run.id": run["id"]})},
        "scopeSpans": [{"scope": {"name": "parley", "version": version}, "spans": spans}],
    }]}


def _root(run: dict[str, Any], trace_id: str, span_id: str) -> dict[str, Any]:
    ended = run["ended"] or run["started"]
    failed = run["status"] not in ("done", "running")
    return {
        "traceId": trace_id, "spanId": span_id, "parentSpanId": "", "name": f"invoke_workflow {run['script']}",
        "kind": SPAN_KIND_INTERNAL, "startTimeUnixNano": _nanos(run["started"]), "endTimeUnixNano": _nanos(ended),
        "attributes": _attributes({
            "gen_ai.operation.name": "invoke_workflow", "code.file.path": run["script"], "parley.run.id": run["id"],
            "parley.run.status": run["status"], "parley.turns": run["turns"],
            "parley.tokens": run["tokens"], "parley.cost_usd": run["cost"],
        }),
        "status": {"code": STATUS_ERROR, "message": run["error"] or run["status"]} if failed else {"code": STATUS_OK},
    }


def _span(trace_id: str, parent: str, event: dict[str, Any], name: str, kind: int, seconds: float,
          attributes: dict[str, Any], error: str | None = None) -> dict[str, Any]:
    end = float(event["time"])
    located = {"code.file.path": event["file"], "code.line.number": event["line"], "parley.step.id": event["step"]}
    return {
        "traceId": trace_id, "spanId": _hex(f"{trace_id}/{event['seq']}", 16), "parentSpanId": parent, "name": name,
        "kind": kind, "startTimeUnixNano": _nanos(end - float(seconds or 0.0)), "endTimeUnixNano": _nanos(end),
        "attributes": _attributes({**attributes, **located}),
        "status": {"code": STATUS_ERROR, "message": error} if error is not None else {"code": STATUS_OK},
    }


def _request_of(event: dict[str, Any]) -> tuple[Any, ...]:
    """Which request a retry or model call event is about: its step, agent and model."""
    return event["step"], event["data"].get("agent"), event["data"].get("model")


def _retry(event: dict[str, Any]) -> dict[str, Any]:
    """A retry as a span event: the try that failed, the tries allowed, the wait and why."""
    data = event["data"]
    return {"timeUnixNano": _nanos(float(event["time"])), "name": "retry", "attributes": _attributes({
        "parley.retry.attempt": data.get("attempt"), "parley.retry.tries": data.get("tries"),
        "parley.retry.wait_s": float(data.get("wait") or 0.0), "error.type": data.get("reason"),
        "gen_ai.request.model": data.get("model"), "gen_ai.agent.name": data.get("agent")})}


def _with_events(span: dict[str, Any], events: list[dict[str, Any]]) -> None:
    if events:
        span["events"] = events
        span["attributes"].append({"key": "parley.retries", "value": _value(len(events))})


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
