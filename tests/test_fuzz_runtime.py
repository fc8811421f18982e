"""The runtime fuzz: hostile tool-call replies and typed replies from the scripted model.

One script asks an agent that has Python tools, then asks it for a typed value.
Each case (a seed, as in `fuzzing.py`) makes the model answer the first ask with
hostile tool calls, round after round: several per reply, malformed JSON,
unknown names, wrong types, missing or extra arguments, huge or deep values,
numbers out of range, lone surrogates; and the typed ask with hostile JSON
(truncated, deep, huge, of the wrong shape, fenced, not JSON at all). A case must:

- end with a result, a `RunError` or `BudgetExceeded` (no other exception),
  within an asyncio timeout and the `Bounds` of `fuzzing.py`;
- run no malformed tool call: the host's tools count what reaches them, and
  every call that ran must be one the oracle here calls well formed (a known
  tool, a JSON object within the documented bounds, arguments that fit the
  tool's signature), at most `MAX_TOOL_CALLS` from one reply;
- when the typed ask succeeds, hold a value of the declared type.

PARLEY_FUZZ_CASES and PARLEY_FUZZ_SEED work as for the compile fuzz.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
from pathlib import Path
from typing import Any

import attrs
import pytest

import parley
from parley.dsl.errors import BudgetExceeded, RunError
from parley.runtime.bounds import MAX_DEPTH, MAX_TOOL_ARGUMENT_BYTES, MAX_TOOL_CALLS
from parley.runtime.models import ModelReply, ModelRequest, TokenSink, ToolCall, Usage
from parley.runtime.scripted import ScriptedModel

from fuzzing import Bounds, Measure, Overran, Tally, bounded, seeds, settle, tracing

DEFAULT_CASES = 240
SHARDS = 2
#: Wall-clock seconds a run may take before it counts as hung.
TIMEOUT = 20.0
ROUNDS = 3
#: The most text one hostile reply carries, all its calls' arguments together (as much as a typed reply may).
MAX_REPLY_TEXT = 1_000_000
BOUNDS = Bounds()

#: Problems the fuzz found that are being fixed elsewhere (pattern of the failure → what it is): see `settle`.
KNOWN: dict[str, str] = {}

TOOLS = '''\
"""Tools for the runtime fuzz; the host replaces them with counting ones of the same signatures."""


def add(a: int, b: int) -> int:
    """Add two whole numbers."""
    return a + b


def echo(text: str) -> str:
    """Say the text back."""
    return text


def lookup(city: str, days: int = 1) -> str:
    """A forecast for a city."""
    return city


def tally(items: list) -> int:
    """Count the items."""
    return len(items)
'''

SCRIPT = f'''\
from python "fuzztools" import add, echo, lookup, tally

agent helper:
    """You help with sums and the weather."""
    tools: add, echo, lookup, tally
    max_tool_rounds: {ROUNDS}

type Verdict:
    score: int
    verdict: "publish" | "revise"
    notes: list[str]

answer = @helper Work it out.
print answer
v: Verdict = @helper Score it.
print v.score
print v.verdict
'''

#: name → (required parameters, optional ones): the signatures above, as the oracle reads them.
SIGNATURES: dict[str, tuple[dict[str, type], dict[str, type]]] = {
    "add": ({"a": int, "b": int}, {}),
    "echo": ({"text": str}, {}),
    "lookup": ({"city": str}, {"days": int}),
    "tally": ({"items": list}, {}),
}


# --- the oracle ------------------------------------------------------------------------------------------


def _refuse(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth(value: Any) -> int:
    """How deep arrays and objects nest in a decoded value (iteratively: values may be deep)."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        current, level = pending.pop()
        if isinstance(current, list | dict):
            deepest = max(deepest, level)
            pending.extend((item, level + 1) for item in (current.values() if isinstance(current, dict) else current))
    return deepest


def well_formed(call: ToolCall) -> bool:
    """Whether a call may run: a known tool, a JSON object within the bounds, fitting the signature."""
    if call.name not in SIGNATURES:
        return False
    text = call.arguments or "{}"
    if len(text.encode("utf-8", "surrogatepass")) > MAX_TOOL_ARGUMENT_BYTES:
        return False
    try:
        arguments = json.loads(text, parse_constant=_refuse)
    except (ValueError, RecursionError):
        return False
    if not isinstance(arguments, dict) or _depth(arguments) > MAX_DEPTH:
        return False
    return fits(call.name, arguments)


def fits(name: str, arguments: dict[str, Any]) -> bool:
    required, optional = SIGNATURES[name]
    if not set(required) <= set(arguments) <= set(required) | set(optional):
        return False
    for key, value in arguments.items():
        kind = {**required, **optional}[key]
        if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
    return True


# --- the host's tools, counting --------------------------------------------------------------------------


@attrs.define
class Ledger:
    """What reached the host's tools in one case, by the model reply that asked for it."""

    reply: int = 0
    ran: list[tuple[int, str, dict[str, Any]]] = attrs.Factory(list)
    wrong: list[str] = attrs.Factory(list)

    def tools(self) -> dict[str, Any]:
        def record(name: str, **arguments: Any) -> None:
            self.ran.append((self.reply, name, arguments))
            if not fits(name, arguments):
                self.wrong.append(f"{name} ran with {str(arguments)[:200]}")

        def add(a: int, b: int) -> int:
            record("add", a=a, b=b)
            return 0

        def echo(text: str) -> str:
            record("echo", text=text)
            return "ok"

        def lookup(city: str, days: int = 1) -> str:
            record("lookup", city=city, days=days) if days != 1 else record("lookup", city=city)
            return "sunny"

        def tally(items: list) -> int:  # type: ignore[type-arg]
            record("tally", items=items)
            return 0

        return {"add": add, "echo": echo, "lookup": lookup, "tally": tally}


# --- the model -----------------------------------------------------------------------------------------


class HostileModel(ScriptedModel):
    """The scripted model (rules for the typed reply), answering every offer of tools with the case's
    calls, several in one reply if the case says so; it tells the ledger which reply is being run."""

    def __init__(self, calls: tuple[ToolCall, ...], typed: str, ledger: Ledger) -> None:
        model = ScriptedModel.from_data({"rules": [{"reply": typed}]})  # every answer that is not a tool call
        super().__init__(model.rules, model.default)
        self.calls = calls
        self.ledger = ledger
        self.sent: list[ToolCall] = []

    async def complete(self, request: ModelRequest, on_token: TokenSink | None = None) -> ModelReply:
        last_user = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        if self.calls and request.tools and "Work it out" in last_user:
            self.requests.append(request)
            self.ledger.reply += 1
            calls = tuple(attrs.evolve(call, id=f"call_{self.ledger.reply}_{i}") for i, call in enumerate(self.calls))
            self.sent.extend(calls)
            return ModelReply(text="", tool_calls=calls, usage=Usage(prompt_tokens=1, completion_tokens=len(calls)), model=request.model,
                              finish_reason="tool_calls")
        return await super().complete(request, on_token)


# --- hostile calls and replies ---------------------------------------------------------------------------


def _deep(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


def _number(rng: random.Random) -> str:
    return rng.choice(["1e999", "-1e999", "NaN", "Infinity", "1" * 5000, "1" * 4300, str(2**63), "-0", "1.5",
                      "0x10", "01", "1e5", "true", "null", '"1"', "[1]", "{}"])


def arguments(rng: random.Random, name: str) -> str:
    """Argument text for a call of `name`: valid, or damaged in one of many ways."""
    valid = {"add": '{"a": 1, "b": 2}', "echo": '{"text": "hi"}', "lookup": '{"city": "Oslo", "days": 3}',
             "tally": '{"items": [1, 2]}'}.get(name, '{"a": 1}')
    kind = rng.randrange(12)
    if kind == 0:
        return valid
    if kind == 1:  # valid text, cut short or with one character changed
        at = rng.randrange(len(valid))
        return rng.choice([valid[:at], valid[:at] + rng.choice('{}[]":,\\x\0') + valid[at + 1:]])
    if kind == 2:  # a value of the wrong type, or out of range
        return json.dumps({"a": 1, "b": 2, "text": "x", "city": "x", "items": []}).replace("1", _number(rng), 1) \
            if rng.random() < 0.3 else valid.replace(valid.split(": ", 1)[1].split(",")[0].rstrip("}"), _number(rng), 1)
    if kind == 3:  # missing or extra arguments
        return rng.choice(["{}", valid[:-1] + ', "extra": 1}', '{"A": 1, "B": 2}', '{"text": "x", "city": "y"}'])
    if kind == 4:  # not an object
        return rng.choice(["", " ", "[1, 2]", "1", '"x"', "null", "true", "{", "}", "\ufeff{}", "{} {}", "{'a': 1}",
                           "{/* */}", '{"a": 1,}'])
    if kind == 5:  # huge
        size = rng.choice([1000, MAX_TOOL_ARGUMENT_BYTES - 20, MAX_TOOL_ARGUMENT_BYTES + 1, 3_000_000])
        return json.dumps({"text": "a" * size} if name != "tally" else {"items": ["a"] * (size // 4)})
    if kind == 6:  # deep
        depth = rng.choice([5, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 1000, 100_000])
        return '{"items": ' + _deep(depth) + "}"
    if kind == 7:  # lone surrogates, escaped or raw, and control characters
        return rng.choice(['{"text": "\\ud800"}', '{"text": "\ud800"}', '{"city": "\\udfff\\ud800"}',
                           '{"text": "\\u0000\\u001b[2J"}', '{"text": "\\uZZZZ"}'])
    if kind == 8:  # many keys, duplicate keys
        return rng.choice(['{"a": 1, "a": 2, "b": 3}', "{" + ", ".join(f'"k{i}": {i}' for i in range(5000)) + "}"])
    if kind == 9:  # deep nesting inside a string (harmless) or after it
        return '{"text": "' + "[" * 10_000 + '"}' if rng.random() < 0.5 else '{"text": "x"' + "]" * 10_000
    if kind == 10:  # random bytes as text
        return "".join(chr(rng.randrange(0x110000)) for _ in range(rng.randint(1, 40)))
    return json.dumps({"items": [{"a": [i]} for i in range(rng.choice([10, 10_000]))]})


def hostile_call(rng: random.Random) -> ToolCall:
    name = rng.choice([*SIGNATURES] * 4 + ["", "nope", "ADD", "add ", "add\0", "a" * 10_000, "\ud800", "tally__x",
                                           "fuzztools.add", "../add", "print"])
    return ToolCall(id="", name=name, arguments=arguments(rng, name if name in SIGNATURES else "add"))


def hostile_json(rng: random.Random) -> str:
    """A typed reply for `Verdict`: valid, nearly valid, or hostile."""
    valid = {"score": 8, "verdict": "publish", "notes": ["short"]}
    kind = rng.randrange(10)
    if kind == 0:
        return json.dumps(valid)
    if kind == 1:
        text = json.dumps(valid)
        return text[:rng.randrange(len(text))]
    if kind == 2:  # wrong shapes
        return json.dumps(rng.choice([{**valid, "score": "8"}, {**valid, "score": 8.5}, {**valid, "verdict": "maybe"},
                                      {**valid, "notes": "x"}, {"score": 8}, {**valid, "extra": 1}, [valid], None, 8,
                                      {**valid, "score": True}, {**valid, "notes": [1, None]}]))
    if kind == 3:  # numbers out of range
        return json.dumps(valid).replace("8", _number(rng), 1)
    if kind == 4:  # deep
        depth = rng.choice([MAX_DEPTH, MAX_DEPTH + 1, 5000, 100_000])
        return rng.choice([_deep(depth), json.dumps(valid)[:-1] + ', "notes": ' + _deep(depth, '"x"') + "}",
                           "{" * depth])
    if kind == 5:  # huge
        size = rng.choice([10_000, 1_100_000])
        return json.dumps({**valid, "notes": ["a" * size]})
    if kind == 6:  # wrapped: fenced, with prose around, a BOM
        text = json.dumps(valid)
        return rng.choice([f"```json\n{text}\n```", f"Here it is: {text} Thanks.", "\ufeff" + text, f"```\n{text}",
                           text + "\n" + text, "```json\n" + "[" * 50_000 + "\n```"])
    if kind == 7:  # lone surrogates
        return rng.choice(['{"score": 8, "verdict": "publish", "notes": ["\\ud800"]}',
                           '{"score": 8, "verdict": "publish", "notes": ["\ud800"]}', '{"\\udfff": 1}'])
    if kind == 8:
        return rng.choice(["", " ", "null", "{}", "[]", "nan", "NaN", "Infinity", "{" + '"a": 1, ' * 20_000 + "}"])
    return "".join(chr(rng.randrange(0x110000)) for _ in range(rng.randint(1, 60)))


@attrs.frozen
class Case:
    seed: int
    calls: tuple[ToolCall, ...]
    typed: str

    def describe(self) -> str:
        calls = "; ".join(f"{c.name[:20]!r}({c.arguments[:60]!r}{'…' if len(c.arguments) > 60 else ''})"
                          for c in self.calls[:3])
        more = f" and {len(self.calls) - 3} more" if len(self.calls) > 3 else ""
        return f"seed {self.seed}: {len(self.calls)} calls per reply: {calls}{more}; typed reply {self.typed[:80]!r}"


def case(seed: int) -> Case:
    rng = random.Random(seed)
    count = rng.choice([0, 1, 1, 1, 2, 3, 5, MAX_TOOL_CALLS, MAX_TOOL_CALLS + 1, 50, 300])
    same = rng.random() < 0.5  # many copies of one call (300 valid calls), or a mix
    first = hostile_call(rng)
    calls = tuple(first if same else hostile_call(rng) for _ in range(count))
    while sum(len(call.arguments) for call in calls) > MAX_REPLY_TEXT:
        calls = calls[:len(calls) // 2]
    return Case(seed, calls, hostile_json(rng))


# --- running a case --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> parley.Program:
    folder = tmp_path_factory.mktemp("runtime-fuzz")
    (folder / "fuzztools.py").write_text(TOOLS, encoding="utf-8")
    (folder / "fuzz.agent").write_text(SCRIPT, encoding="utf-8")
    return parley.load(folder / "fuzz.agent")


def check_run(program: parley.Program, hostile: Case) -> str:
    """Run one case; its outcome (`result`, `run-error`, `budget`), or AssertionError naming what went wrong."""
    ledger = Ledger()
    model = HostileModel(hostile.calls, hostile.typed, ledger)

    async def run() -> Any:
        return await asyncio.wait_for(program.run_async(model=model, tools=ledger.tools()), TIMEOUT)

    outcome = "result"
    try:
        result = asyncio.run(run())
    except asyncio.TimeoutError:
        raise AssertionError(f"still running after {TIMEOUT} s (asyncio timeout)") from None
    except BudgetExceeded:
        outcome = "budget"
    except RunError:
        outcome = "run-error"
    else:
        assert len(result.printed) == 3, result.printed
        score, verdict = result.printed[-2:]
        assert score.lstrip("-").isdigit() and verdict in ("publish", "revise"), f"typed value {result.printed[-2:]}"
    assert not ledger.wrong, "malformed calls ran: " + "; ".join(ledger.wrong[:3])
    ran_ok = [call for call in model.sent if well_formed(call)]
    assert len(ledger.ran) <= len(ran_ok), f"{len(ledger.ran)} calls ran, {len(ran_ok)} were well formed"
    per_reply: dict[int, int] = {}
    for reply, _, _ in ledger.ran:
        per_reply[reply] = per_reply.get(reply, 0) + 1
    assert max(per_reply.values(), default=0) <= MAX_TOOL_CALLS, f"one reply ran {max(per_reply.values())} calls"
    assert ledger.reply <= ROUNDS, f"{ledger.reply} tool rounds under max_tool_rounds: {ROUNDS}"
    return outcome


def run_case(program: parley.Program, hostile: Case, tally: Tally) -> None:
    failure, outcome = None, "failed"
    measure = Measure()
    with bounded(BOUNDS) as measure:
        try:
            outcome = check_run(program, hostile)
        except AssertionError as error:
            failure = f"contract: {str(error)[:400]}"
        except (Exception, Overran, RecursionError) as error:  # noqa: BLE001 - an escape is what this looks for
            failure = f"escape: {type(error).__name__}: {str(error)[:300]}"
    failure = failure or measure.breaks(BOUNDS, sum(len(c.arguments) for c in hostile.calls) + len(hostile.typed))
    tally.add(hostile.seed, measure, outcome if failure is None else "failed")
    if failure is not None:
        tally.failures.append(f"{hostile.describe()}\n    {failure}")


def test_the_oracle_tells_well_formed_calls() -> None:
    assert well_formed(ToolCall(id="1", name="add", arguments='{"a": 1, "b": 2}'))
    assert well_formed(ToolCall(id="1", name="tally", arguments='{"items": ' + _deep(MAX_DEPTH - 1) + "}"))
    for name, text in [("add", '{"a": 1}'), ("add", '{"a": true, "b": 2}'), ("add", '{"a": 1, "b": 2, "c": 3}'),
                       ("nope", "{}"), ("echo", '{"text": "' + "a" * MAX_TOOL_ARGUMENT_BYTES + '"}'),
                       ("tally", '{"items": ' + _deep(MAX_DEPTH) + "}"), ("add", '{"a": NaN, "b": 1}'),
                       ("add", '{"a": ' + "1" * 5000 + ', "b": 1}'), ("add", "[1, 2]"), ("add", "{")]:
        assert not well_formed(ToolCall(id="1", name=name, arguments=text)), (name, text[:40])


def test_cases_are_rebuilt_from_their_seed() -> None:
    assert [case(seed) for seed in range(30)] == [case(seed) for seed in range(30)]


@pytest.mark.parametrize("shard", range(SHARDS))
def test_hostile_replies_end_in_a_result_or_a_run_error(shard: int, program: parley.Program,
                                                          request: pytest.FixtureRequest) -> None:
    tally = Tally(f"runtime-{shard + 1}-of-{SHARDS}")
    check_run(program, Case(-1, (ToolCall(id="", name="add", arguments='{"a": 1, "b": 2}'),), '{"score": 1, "verdict": "revise", '
                                                                          '"notes": []}'))  # warm up, unmeasured
    with tracing():
        for seed in seeds(DEFAULT_CASES, shard, SHARDS):
            run_case(program, case(seed), tally)
    cache = getattr(request.config, "cache", None)
    tally.record(cache.mkdir("parley-fuzz") if cache is not None else None)
    settle(tally, KNOWN, f"the seed rebuilds one (`case(SEED)` in {Path(__file__).name})")
