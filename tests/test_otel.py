"""Live OpenTelemetry: spans of real runs reach a local OTLP/HTTP endpoint, nested as the offline trace is."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from parley.cli import main
from parley.otel import wanted

pytest.importorskip("opentelemetry.sdk", reason="the otel extra (parley-lang[otel]) is not installed")
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SECRET = "sk-otel-canary-4b7d9e2f1a3c"


class Collector:
    """A tiny OTLP/HTTP receiver: every body POSTed to /v1/traces, decoded."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path == "/v1/traces":
                    collector.bodies.append(body)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200 if self.path == "/v1/traces" else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def spans(self) -> list[dict[str, Any]]:
        """The spans received since the last call, as plain dicts (with their resource's attributes)."""
        spans = []
        for body in self.bodies:
            request = ExportTraceServiceRequest.FromString(body)
            for resource_spans in request.resource_spans:
                resource = _attributes(resource_spans.resource.attributes)
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        spans.append({
                            "id": span.span_id.hex(), "parent": span.parent_span_id.hex(), "name": span.name,
                            "trace": span.trace_id.hex(), "kind": span.kind, "start": span.start_time_unix_nano,
                            "end": span.end_time_unix_nano, "attributes": _attributes(span.attributes),
                            "status": span.status.code, "message": span.status.message, "resource": resource,
                            "events": [e.name for e in span.events]})
        self.bodies.clear()
        return sorted(spans, key=lambda s: (s["start"], s["end"]))


def _attributes(pairs: Any) -> dict[str, Any]:
    found = {}
    for pair in pairs:
        which = pair.value.WhichOneof("value")
        value = getattr(pair.value, which)
        found[pair.key] = [getattr(v, v.WhichOneof("value")) for v in value.values] if which == "array_value" else value
    return found


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    receiver = Collector()
    yield receiver
    receiver.server.shutdown()


def run_live(collector: Collector, tmp_path: Path, *args: str, **env: str) -> tuple[Result, list[dict[str, Any]]]:
    variables = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{collector.endpoint}/v1/traces",
                 "OTEL_SERVICE_NAME": "parley-tests", "OTEL_BSP_SCHEDULE_DELAY": "50", **env}
    result = CliRunner(env=variables).invoke(main, ["run", *args, "--store", str(tmp_path / "runs.db")])
    return result, collector.spans()


def tree(spans: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    """Each span's name with its parent's name, in start order."""
    names = {s["id"]: s["name"] for s in spans}
    return [(s["name"], names.get(s["parent"])) for s in spans]


def test_a_group_arrives_nested_run_group_turn_model_call(collector: Collector, tmp_path: Path) -> None:
    result, spans = run_live(collector, tmp_path, str(EXAMPLES / "household.agent"),
                             "--model", f"scripted:{EXAMPLES / 'household.rules.json'}")
    assert result.exit_code == 0, result.output
    run_id = result.stderr.rsplit("run ", 1)[1].split()[0]
    root, group = spans[0], next(s for s in spans if s["name"] == "invoke_workflow group")
    assert (root["name"], root["parent"], group["parent"]) == ("invoke_workflow household.agent", "", root["id"])
    assert {s["trace"] for s in spans} == {root["trace"]}
    assert root["resource"]["service.name"] == "parley-tests"
    assert all(s["attributes"]["gen_ai.conversation.id"] == run_id for s in spans)
    turns = [s for s in spans if s["name"].startswith("invoke_agent ")]
    assert turns and all(t["parent"] == group["id"] for t in turns)
    assert {t["attributes"]["gen_ai.agent.name"] for t in turns} == {"assistant", "world", "grounding"}
    assert all(t["attributes"]["code.line.number"] == 48 and t["attributes"]["code.file.path"].endswith(
        "household.agent") for t in turns)
    calls = [s for s in spans if s["name"].startswith("chat ")]
    by_id = {s["id"]: s for s in spans}
    assert calls and all(by_id[c["parent"]]["name"] in ("invoke_agent assistant", "invoke_agent grounding")
                         for c in calls)
    assert all(c["kind"] == 3 and c["attributes"]["gen_ai.operation.name"] == "chat"
               and c["attributes"]["gen_ai.usage.output_tokens"] > 0 for c in calls)
    assert all(by_id[c["parent"]]["start"] <= c["start"] <= c["end"] <= by_id[c["parent"]]["end"] for c in calls)
    assert sum(t["attributes"].get("gen_ai.usage.input_tokens", 0) for t in turns) == sum(
        c["attributes"]["gen_ai.usage.input_tokens"] for c in calls) == root["attributes"]["gen_ai.usage.input_tokens"]
    assert group["attributes"]["parley.conversation.turns"] == len(turns)
    assert not any("gen_ai.output.messages" in s["attributes"] for s in spans), "content is opt-in"
    assert all(s["status"] == 0 for s in spans)


def test_concurrent_branches_are_siblings_and_the_offline_trace_nests_alike(collector: Collector,
                                                                           tmp_path: Path) -> None:
    result, spans = run_live(collector, tmp_path, str(EXAMPLES / "mixture.agent"),
                             "--model", f"scripted:{EXAMPLES / 'mixture.rules.json'}")
    assert result.exit_code == 0, result.output
    root = spans[0]
    assert sorted(tree(spans)[1:]) == sorted([
        *[(f"invoke_agent {a}", root["name"]) for a in ("physicist", "teacher", "skeptic", "aggregator")],
        *[("chat scripted", f"invoke_agent {a}") for a in ("physicist", "teacher", "skeptic", "aggregator")]])
    branches = [s for s in spans if s["name"] in ("invoke_agent physicist", "invoke_agent teacher",
                                                  "invoke_agent skeptic")]  # one step, three `parallel for` items
    assert len({(s["attributes"]["parley.step.id"], s["parent"]) for s in branches}) == 1
    run_id = result.stderr.rsplit("run ", 1)[1].split()[0]
    offline = CliRunner().invoke(main, ["trace", run_id, "--store", str(tmp_path / "runs.db"), "--format",
                                        "otlp-json"])
    stored = json.loads(offline.stdout)["resourceSpans"][0]["scopeSpans"][0]["spans"]
    names = {s["spanId"]: s["name"] for s in stored}
    assert sorted((s["name"], names.get(s["parentSpanId"])) for s in stored) == sorted(tree(spans))


def test_content_is_opt_in_and_masked(collector: Collector, tmp_path: Path) -> None:
    script = tmp_path / "leak.agent"
    script.write_text('agent writer:\n    """You write."""\n\nagent critic:\n    """You judge."""\n\n'
                      'review = chat writer, critic:\n    "Write a line."\n    until 2 turns\nprint review.turns\n',
                      encoding="utf-8")
    rules = tmp_path / "leak.rules.json"
    rules.write_text(json.dumps({"rules": [{"contains": "", "reply": f"the key is {SECRET}"}]}), encoding="utf-8")
    result, spans = run_live(collector, tmp_path, str(script), "--model", f"scripted:{rules}",
                             PARLEY_CANARY_TOKEN=SECRET, OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="true")
    assert result.exit_code == 0, result.output
    said = [s["attributes"]["gen_ai.output.messages"] for s in spans if s["name"].startswith("invoke_agent")]
    assert len(said) == 2 and all("the key is [redacted]" in text for text in said)
    assert SECRET not in json.dumps(spans, default=str)
    chat = next(s for s in spans if s["name"] == "invoke_workflow chat")
    assert chat["attributes"]["parley.conversation.members"] == ["writer", "critic"]


def test_a_failed_run_ends_its_spans_with_the_error(collector: Collector, tmp_path: Path) -> None:
    result, spans = run_live(collector, tmp_path, str(EXAMPLES / "mixture.agent"),
                             "--model", f"scripted:{EXAMPLES / 'mixture.rules.json'}", "--max-turns", "2")
    assert result.exit_code == 4
    root = spans[0]
    assert root["status"] == 2 and "turn" in root["message"]
    assert root["attributes"]["error.type"] == "budget"


def test_when_spans_are_sent() -> None:
    assert not wanted(None, {})
    assert wanted(None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert wanted(None, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"})
    assert wanted(None, {"OTEL_TRACES_EXPORTER": "console"})
    assert not wanted(None, {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"})
    assert not wanted(None, {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"})
    assert wanted(True, {}) and not wanted(False, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"})


def test_a_run_kept_out_of_the_store_still_writes_its_trace_file(tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    result = CliRunner().invoke(main, ["run", str(EXAMPLES / "mixture.agent"), "--no-store", "--trace", str(trace),
                                       "--model", f"scripted:{EXAMPLES / 'mixture.rules.json'}"])
    assert result.exit_code == 0, result.output
    kinds = [json.loads(line)["kind"] for line in trace.read_text(encoding="utf-8").splitlines()]
    assert kinds[0] == "run_start" and kinds[-1] == "run_end" and kinds.count("turn") == 4


def test_a_terminated_run_flushes_its_spans(collector: Collector, tmp_path: Path) -> None:
    script = tmp_path / "ask.agent"
    script.write_text("agent you is human\n\nx = @you Pick a name.\nprint x\n", encoding="utf-8")
    env = {**os.environ, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{collector.endpoint}/v1/traces"}
    process = subprocess.Popen([sys.executable, "-m", "parley", "run", str(script), "--no-store"], env=env,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    asked = ""
    while "Pick a name." not in asked:  # the run is waiting for the person
        asked += process.stderr.read(1)
    process.send_signal(signal.SIGTERM)
    _, said = process.communicate(timeout=30)
    assert process.returncode == 143, said
    (root,) = collector.spans()
    assert (root["name"], root["status"], root["message"]) == ("invoke_workflow ask.agent", 2, "terminated")
