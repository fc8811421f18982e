"""A run's events as a tree of spans: run → chat or group → turn → model call, tool call, a person's answer.

One module decides the tree; two write it: `runtime/otlp.py` (a stored run as
OTLP/JSON, `parley trace --format otlp-json`) and `parley/otel.py` (spans sent
live through the OpenTelemetry SDK). Both feed events in order to `SpanTree`
and are told as each span starts and ends (`Listener`), so a live writer can
start a child under a parent that is still open.

Where an event belongs comes from its `path` (the visit of its step, see
`make_event`): a chat's turns share the chat's path; a `parallel:` branch or a
`parallel for` item has its own, so concurrent branches become sibling spans
under the span they run in; the steps of a def called as a tool lie under the
tool call's path, so what they do nests in the `execute_tool` span.

Names and attributes follow OpenTelemetry's GenAI conventions (`gen_ai.*`),
with the `.agent` file and line (`code.file.path`, `code.line.number`). Every
text attribute is masked for secrets (`redact`); what agents and people said
is kept only with `capture_content` (opt-in).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal, Protocol

import attrs
from parley.runtime.secrets import redact

Role = Literal["run", "conversation", "turn", "tool", "leaf"]


@attrs.define(eq=False)
class Node:
    """One span: `index` is its place in creation order (stable for the same events), `parent` None for the run's.

    `attributes` and `events` may grow until it ends; `error` set means its status is an error."""

    index: int
    parent: Node | None
    role: Role
    name: str
    client: bool  # a call to a model server (span kind CLIENT), else INTERNAL
    start: float
    path: str
    agent: str | None = None
    attributes: dict[str, Any] = attrs.field(factory=dict)
    events: list[tuple[str, float, dict[str, Any]]] = attrs.field(factory=list)
    end: float | None = None
    error: str | None = None
    last: float = 0.0  # the latest time seen inside it (where it ends when the run stops around it)


class Listener(Protocol):
    """Told as each span starts (its parent already started) and ends (its children already ended)."""

    def started(self, node: Node) -> None: ...

    def ended(self, node: Node) -> None: ...


class SpanTree:
    """Builds the spans of one run from its events, fed in order (`feed`), until `finish`."""

    def __init__(self, listener: Listener, capture_content: bool = False, end_with_run: bool = True) -> None:
        self.listener = listener
        self.capture = capture_content
        self.end_with_run = end_with_run  # else `run_end` only notes the time, and `finish` ends the run
        self.run_ended: float | None = None
        self.open: list[Node] = []  # in the order they started
        self.count = 0
        self.run: Node | None = None
        self.run_id: str | None = None
        self.failure: str | None = None
        self.tools: dict[str, Node] = {}  # open tool calls by call id
        self.retries: dict[tuple[Any, ...], list[tuple[str, float, dict[str, Any]]]] = {}

    # --- events --------------------------------------------------------------------

    def feed(self, event: Mapping[str, Any]) -> None:
        """One event, as a dict (`Event.as_dict()`, or a row of the store's `events`)."""
        kind, data, at = event["kind"], event.get("data") or {}, float(event["time"])
        path = str(data.get("path") or "")
        if self.run is None and kind != "run_start":
            self._start_run(event, at)
        if self.run is not None:
            self.run.last = max(self.run.last, at)
        match kind:
            case "run_start":
                self._start_run(event, at)
            case "conversation_start":
                members = list(data.get("members") or [])
                form = "chat" if data.get("select") is None else "group"
                self._open("conversation", self._around(path), f"invoke_workflow {form}", at, path, event, {
                    "gen_ai.operation.name": "invoke_workflow", "parley.conversation.id": data.get("conversation"),
                    "parley.conversation.members": members, "parley.conversation.max_turns": data.get("max_turns"),
                    "parley.conversation.select": data.get("select")})
            case "conversation_stop":
                node = self._last_open("conversation", lambda n: n.path == path)
                if node is not None:
                    node.attributes.update({"parley.conversation.stop_reason": data.get("reason"),
                                            "parley.conversation.turns": data.get("turns")})
                    self._close(node, at)
            case "model_call":
                self._model_call(event, data, path, at)
            case "retry" if data.get("what") == "request":
                self.retries.setdefault((path, data.get("agent"), data.get("model")), []).append(_retry(data, at))
            case "retry" | "code":
                name = "retry" if kind == "retry" else "code"
                values = ({"parley.retry.problem": data.get("problem"), "parley.retry.what": data.get("what")}
                          if kind == "retry" else {"parley.code.language": data.get("language"),
                                                   "parley.code.exit_code": data.get("exit_code")})
                (self._open_turn(path) or self._around(path)).events.append((name, at, values))
            case "tool_call":
                self._tool_call(event, data, path, at)
            case "tool_result" | "tool_error":
                self._tool_end(event, data, path, at)
            case "human_input":
                self._human(event, data, path, at)
            case "turn":
                self._turn_end(event, data, path, at)
            case "handoff":
                node = self._last_open("conversation", lambda n: n.attributes.get("parley.conversation.id")
                                       == data.get("conversation"))
                (node or self.run).events.append(("handoff", at, {  # type: ignore[union-attr]
                    "gen_ai.agent.name": data.get("agent"), "parley.handoff.to": data.get("to")}))
            case "error":
                self.failure = str(data.get("message") or data.get("reason") or "failed")
                self.run.attributes["error.type"] = data.get("reason")  # type: ignore[union-attr]
            case "run_end":
                self._usage(data.get("usage") or {})
                self.run_ended = at
                if self.end_with_run:
                    self.finish(at)
            case _:
                pass  # print, output, notice, cached, reply_start (not stored: a turn starts with what it does)

    def finish(self, at: float | None = None, error: str | None = None) -> None:
        """End every span still open, the run's last: at `at` (else the last time seen inside each).
        A span cut short by a failed or stopped run ends with its error (`error`, or the run's)."""
        why = error or self.failure
        for (path, _agent, _model), left in list(self.retries.items()):  # requests that failed for good
            target = self._open_turn(path) or self.run
            if target is not None:
                target.events.extend(left)
                target.attributes["parley.retries"] = len(left)
        self.retries.clear()
        for node in reversed(list(self.open)):
            if node not in self.open:
                continue
            if why is not None:
                node.error = why
            self._close(node, at if node is self.run and at is not None else None)

    # --- the spans -------------------------------------------------------------------

    def _start_run(self, event: Mapping[str, Any], at: float) -> None:
        data = event.get("data") or {}
        if self.run is not None:
            return
        self.run_id = data.get("run") if event["kind"] == "run_start" else None
        script = str(data.get("file") or event.get("file") or "")
        self.run = self._open("run", None, f"invoke_workflow {script.rsplit('/', 1)[-1]}".strip(), at, "",
                              event, {"gen_ai.operation.name": "invoke_workflow", "parley.run.id": self.run_id,
                                      "code.file.path": script or None})

    def _model_call(self, event: Mapping[str, Any], data: Mapping[str, Any], path: str, at: float) -> None:
        agent = data.get("agent")
        started = at - float(data.get("seconds") or 0.0)
        parent = self._turn(path, agent, started, event) if agent is not None else self._around(path)
        node = self._open("leaf", parent, f"chat {data.get('model')}", started, path, event, {
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": data.get("provider") or "openai",
            "gen_ai.request.model": data.get("model"), "gen_ai.response.model": data.get("response_model") or None,
            "gen_ai.usage.input_tokens": data.get("input_tokens", 0),
            "gen_ai.usage.output_tokens": data.get("output_tokens", 0),
            "gen_ai.response.finish_reasons": [data.get("finish_reason") or "stop"], "gen_ai.agent.name": agent,
            "parley.cached": data.get("cached", False), "parley.journaled": data.get("journaled", False),
            "parley.cost_usd": data.get("cost")}, client=True)
        left = self.retries.pop((path, agent, data.get("model")), [])
        if left:
            node.events.extend(left)
            node.attributes["parley.retries"] = len(left)
        if parent.role == "turn":
            for key in ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"):
                parent.attributes[key] = parent.attributes.get(key, 0) + int(node.attributes[key] or 0)
            parent.attributes["gen_ai.request.model"] = data.get("model")
        self._close(node, at)

    def _tool_call(self, event: Mapping[str, Any], data: Mapping[str, Any], path: str, at: float) -> None:
        parent = self._turn(path, data.get("agent"), at, event)
        node = self._open("tool", parent, f"execute_tool {data.get('tool')}", at, path, event, {
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": data.get("tool"),
            "gen_ai.tool.call.id": data.get("call_id"), "gen_ai.agent.name": data.get("agent")})
        if self.capture:
            node.attributes["gen_ai.tool.call.arguments"] = json.dumps(data.get("arguments"), default=str)
        self.tools[str(data.get("call_id") or data.get("tool"))] = node

    def _tool_end(self, event: Mapping[str, Any], data: Mapping[str, Any], path: str, at: float) -> None:
        node = self.tools.pop(str(data.get("call_id") or data.get("tool")), None)
        if node is None:  # a call refused before it ran: an instant, failed span
            parent = self._open_turn(path) or self._around(path)
            node = self._open("tool", parent, f"execute_tool {data.get('tool')}", at, path, event, {
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": data.get("tool")})
        if event["kind"] == "tool_error":
            node.error = str(data.get("error") or "tool error")
            node.attributes["error.type"] = "tool_error"
        self._close(node, at)

    def _human(self, event: Mapping[str, Any], data: Mapping[str, Any], path: str, at: float) -> None:
        agent = data.get("agent")
        waited = float(data.get("seconds") or 0.0)
        parent = self._around(path) if agent == "selector" else self._turn(path, agent, at - waited, event)
        node = self._open("leaf", parent, f"human_input {agent}", at - waited, path, event, {
            "gen_ai.agent.name": agent, "parley.human.wait_s": waited if "seconds" in data else None,
            "parley.human.mode": data.get("mode"), "parley.human.ended": not str(data.get("text") or "").strip()})
        self._close(node, at)

    def _turn_end(self, event: Mapping[str, Any], data: Mapping[str, Any], path: str, at: float) -> None:
        node = self._turn(path, data.get("agent"), at, event)
        node.attributes.update({"parley.turn.tokens": data.get("tokens"), "parley.cached": data.get("cached"),
                                "parley.journaled": data.get("journaled")})
        if self.capture:
            node.attributes["gen_ai.output.messages"] = json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": data.get("text")}]}], ensure_ascii=False)
        self._close(node, at)

    def _turn(self, path: str, agent: Any, at: float, event: Mapping[str, Any]) -> Node:
        """The open turn of `agent` at `path`, started now if there is none (another agent's ends first)."""
        node = self._open_turn(path)
        if node is not None and node.agent == agent:
            return node
        if node is not None:
            self._close(node, None)
        turn = self._open("turn", self._around(path), f"invoke_agent {agent}", at, path, event, {
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent})
        turn.agent = agent
        return turn

    def _usage(self, usage: Mapping[str, Any]) -> None:
        if self.run is not None:
            self.run.attributes.update({
                "gen_ai.usage.input_tokens": usage.get("prompt_tokens"),
                "gen_ai.usage.output_tokens": usage.get("completion_tokens"), "parley.turns": usage.get("turns"),
                "parley.tokens": usage.get("tokens"),
                "parley.cost_usd": str(usage["cost"]) if usage.get("cost") is not None else None})

    # --- the tree ----------------------------------------------------------------------

    def _around(self, path: str) -> Node:
        """The innermost open span an event at `path` happens in: the last started whose path holds it
        (a chat, or the run, at the same path; a turn or tool call only from a step beneath it)."""
        for node in reversed(self.open):
            if node.role in ("run", "conversation") and _within(path, node.path):
                return node
            if node.role in ("turn", "tool") and path != node.path and _within(path, node.path):
                return node
        assert self.run is not None
        return self.run

    def _open_turn(self, path: str) -> Node | None:
        return self._last_open("turn", lambda n: n.path == path)

    def _last_open(self, role: Role, test: Any) -> Node | None:
        return next((n for n in reversed(self.open) if n.role == role and test(n)), None)

    def _open(self, role: Role, parent: Node | None, name: str, at: float, path: str, event: Mapping[str, Any],
              attributes: dict[str, Any], client: bool = False) -> Node:
        located = {} if role == "run" else {"code.file.path": event.get("file"), "code.line.number": event.get("line"),
                                            "parley.step.id": event.get("step")}
        node = Node(index=self.count, parent=parent, role=role, name=name, client=client, start=at, path=path,
                    attributes={**attributes, **located, "gen_ai.conversation.id": self.run_id}, last=at)
        self.count += 1
        self.open.append(node)
        self.listener.started(node)
        return node

    def _close(self, node: Node, at: float | None) -> None:
        """End `node` (its open children first) at `at`, or at the last time seen inside it."""
        for child in [n for n in reversed(self.open) if _under(n, node)]:
            if child not in self.open:
                continue  # closed with its own child just before
            if child.error is None and node.error is not None:
                child.error = node.error
            self._close(child, None)
        node.end = max(node.start, at if at is not None else node.last)
        if node.parent is not None:
            node.parent.last = max(node.parent.last, node.end)
        node.attributes = {key: _masked(value) for key, value in node.attributes.items() if value is not None}
        node.events = [(name, when, {k: _masked(v) for k, v in values.items() if v is not None})
                       for name, when, values in node.events]
        node.error = redact(node.error) if node.error is not None else None
        self.open.remove(node)
        for key, tool in list(self.tools.items()):
            if tool is node:
                del self.tools[key]
        self.listener.ended(node)


def _retry(data: Mapping[str, Any], at: float) -> tuple[str, float, dict[str, Any]]:
    """A retried request as a span event: the try that failed, the tries allowed, the wait and why."""
    return "retry", at, {
        "parley.retry.attempt": data.get("attempt"), "parley.retry.tries": data.get("tries"),
        "parley.retry.wait_s": float(data.get("wait") or 0.0), "error.type": data.get("reason"),
        "gen_ai.request.model": data.get("model"), "gen_ai.agent.name": data.get("agent")}


def _within(path: str, base: str) -> bool:
    return not base or path == base or path.startswith(base + "/")


def _under(node: Node, ancestor: Node) -> bool:
    parent = node.parent
    while parent is not None:
        if parent is ancestor:
            return True
        parent = parent.parent
    return False


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value
