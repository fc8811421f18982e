"""Live OpenTelemetry spans of a run, sent as they end through the OpenTelemetry SDK (`parley-lang[otel]`).

`LiveSpans` is an event sink (`on_event`): it feeds the run's events to the
span tree that the offline `parley trace --format otlp-json` uses too
(`runtime/span_tree.py`) and makes each span with the tracer it is given (by
default the global one, so a host that set up OpenTelemetry gets Parley's
spans under its own current span). `parley run` configures the SDK itself
from the standard `OTEL_*` variables (`from_environment`): the SDK's exporter,
resource and provider read them (endpoint, headers, timeout, service name,
resource attributes, sampler, batching). See docs/observability.md.

OpenTelemetry is imported only when spans are made: `import parley` stays light.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from parley.runtime.span_tree import Node, SpanTree

#: The GenAI conventions' switch for keeping what was said (prompts, replies, tool arguments) on spans.
CONTENT_VARIABLE = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
#: Its values that turn content on (`true`, as older instrumentations read it; the newer modes that put
#: content on spans). Anything else, or nothing, leaves it off.
CONTENT_ON = frozenset({"true", "1", "span_only", "span_and_event"})
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
INSTALL_HINT = "pip install 'parley-lang[otel]'"


class OtelUnavailable(Exception):
    """Spans were asked for and cannot be sent (the extra is not installed, an exporter is unknown)."""


def captures_content(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether spans keep what agents and people said (opt-in, masked for secrets either way)."""
    return environ.get(CONTENT_VARIABLE, "").strip().lower() in CONTENT_ON


def wanted(flag: bool | None, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether `parley run` sends spans: `--otel`/`--no-otel` when given; else when the environment
    names where or how (an OTLP endpoint, or `OTEL_TRACES_EXPORTER` other than `none`), unless
    `OTEL_SDK_DISABLED=true`."""
    if flag is not None:
        return flag
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporters == "none":
        return False
    return bool(exporters) or any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


class LiveSpans:
    """An `on_event` sink that turns a run's events into OpenTelemetry spans as they happen.

    `tracer_provider`: where spans go (default: the global provider). `capture_content`: keep what was
    said (default: `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`). Without `on_close`, the
    spans end with the run (`run_end`); with it, the run's span stays open until `close` says how the
    run stopped (a failure the runtime does not report as an event, an interrupt), then `on_close`
    runs (the command's flush and shutdown)."""

    def __init__(self, tracer_provider: Any = None, capture_content: bool | None = None,
                 on_close: Callable[[], None] | None = None) -> None:
        from opentelemetry import trace

        from parley import __version__

        self._trace = trace
        self.tracer = trace.get_tracer("parley", __version__, tracer_provider=tracer_provider)
        content = captures_content() if capture_content is None else capture_content
        self.tree = SpanTree(self, content, end_with_run=on_close is None)  # else the run ends at `close`
        self.spans: dict[int, Any] = {}
        self.on_close = on_close

    def __call__(self, event: Any) -> None:
        self.tree.feed(event.as_dict() if hasattr(event, "as_dict") else event)

    def close(self, stopped_by: BaseException | None = None) -> None:
        """End what is still open (a run cut short: failed, interrupted, terminated), then `on_close`."""
        self.tree.finish(self.tree.run_ended or time.time(), _why(stopped_by))
        if self.on_close is not None:
            done, self.on_close = self.on_close, None
            done()

    # --- the span tree's listener --------------------------------------------------------

    def started(self, node: Node) -> None:
        from opentelemetry.trace import SpanKind

        parent = self.spans.get(node.parent.index) if node.parent is not None else None
        context = self._trace.set_span_in_context(parent) if parent is not None else None  # None: the host's
        self.spans[node.index] = self.tracer.start_span(
            node.name, context=context, kind=SpanKind.CLIENT if node.client else SpanKind.INTERNAL,
            start_time=_nanos(node.start))

    def ended(self, node: Node) -> None:
        from opentelemetry.trace import Status, StatusCode

        span = self.spans.pop(node.index)
        span.set_attributes(node.attributes)
        for name, when, values in node.events:
            span.add_event(name, values, timestamp=_nanos(when))
        if node.error is not None:
            span.set_status(Status(StatusCode.ERROR, node.error))  # success leaves it unset, as advised
        span.end(end_time=_nanos(node.end if node.end is not None else node.start))


def from_environment() -> LiveSpans:
    """Spans for `parley run`: a tracer provider of its own, configured by the `OTEL_*` variables
    as the SDK reads them, flushed and shut down when the run's spans are closed."""
    try:
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        raise OtelUnavailable(f"OpenTelemetry is not installed ({INSTALL_HINT})") from None
    resource = Resource.create()  # OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: "parley"}))
    provider = TracerProvider(resource=resource)  # OTEL_TRACES_SAMPLER and its argument
    for exporter in _exporters(os.environ):
        provider.add_span_processor(BatchSpanProcessor(exporter))  # OTEL_BSP_*

    def flush() -> None:
        provider.force_flush()
        provider.shutdown()

    return LiveSpans(provider, on_close=flush)


def _exporters(environ: Mapping[str, str]) -> list[Any]:
    """The exporters `OTEL_TRACES_EXPORTER` names (default `otlp`), each configured by the SDK from
    its own variables. `otlp` is OTLP over HTTP (protobuf), the protocol the specification makes the
    default and the one the extra installs, unless `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL` says `grpc`."""
    names = [n.strip() for n in (environ.get("OTEL_TRACES_EXPORTER") or "otlp").split(",") if n.strip()]
    protocol = (environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
                or "http/protobuf").strip()
    exporters = []
    for name in names:
        if name == "otlp":
            name = {"grpc": "otlp_proto_grpc", "http/protobuf": "otlp_proto_http"}.get(protocol, "")
            if not name:
                raise OtelUnavailable(f"OTLP protocol {protocol!r} is not supported (use http/protobuf or grpc)")
        if name == "console":  # stdout is the script's: spans as JSON go to stderr
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            exporters.append(ConsoleSpanExporter(out=sys.stderr))
            continue
        exporters.append(_entry_point(name)())
    return exporters


def _entry_point(name: str) -> Any:
    """The exporter class an installed package registers as `name` (how the SDK finds exporters)."""
    from importlib.metadata import entry_points

    found = list(entry_points(group="opentelemetry_traces_exporter", name=name))
    if not found:
        hint = "pip install opentelemetry-exporter-otlp-proto-grpc" if name == "otlp_proto_grpc" else INSTALL_HINT
        raise OtelUnavailable(f"no installed package provides the span exporter {name!r} ({hint})")
    return found[0].load()


def _why(stopped_by: BaseException | None) -> str | None:
    """What cut the run short, from the exception leaving `parley run` (None: it was not)."""
    if stopped_by is None:
        return None
    if isinstance(stopped_by, SystemExit):
        if not stopped_by.code:
            return None
        cause = stopped_by.__context__  # what the command was handling when it exited
        return _why(cause) if cause is not None else f"exit status {stopped_by.code}"
    if isinstance(stopped_by, KeyboardInterrupt):
        return "terminated" if getattr(stopped_by, "exit_code", 130) != 130 else "interrupted"
    return str(stopped_by) or type(stopped_by).__name__


def _nanos(seconds: float) -> int:
    return round(seconds * 1e9)


def for_command(flag: bool | None) -> LiveSpans | None:
    """`parley run`'s live spans, or None when not wanted (`wanted`). `--otel` when they cannot be
    sent is a usage error; the environment asking for them then is said once on stderr, and the run
    goes on without them."""
    import click

    if not wanted(flag):
        return None
    try:
        return from_environment()
    except OtelUnavailable as error:
        if flag:
            raise click.UsageError(f"--otel: {error}") from None
        click.echo(click.style("warning: ", fg="yellow", bold=True)
                   + f"the OTEL_* variables ask for spans, and {error}; the run sends none", err=True)
        return None
