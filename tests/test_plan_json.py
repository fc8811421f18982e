"""Plans as JSON: exact round trips, the committed schema, and loud failure on bad input.

Random plans are built from the records of `compiler.plan` by introspection (the
same type hints the loader reads), so a new record or field is covered without
touching this file. The contract checked:

- `plan_from_json(plan_to_json(p)) == p`, and writing the loaded plan gives the
  same text again (`==` alone cannot tell `1` from `1.0` or `True`);
- the JSON validates against the schema, and the committed
  `docs/plan.schema.json` is the schema `compiler.plan_schema` generates now;
- `plan_to_json` is deterministic;
- anything that is not a plan, however damaged, and a plan of another version
  raise `PlanError`, never another exception, and the loader accepts exactly
  what the schema does;
- a field that holds one of a closed set of strings (a `Literal`) refuses any
  other string, whether the plan is read from JSON or built by hand.

These are tests of the format: random plans name agents and steps at random, so
they are read with `validate=False` (what a plan may name: `test_plan_file.py`).

Hypothesis runs derandomized with small plans and a fixed budget.
"""

from __future__ import annotations

import copy
import json
import random
import typing
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy
from jsonschema import Draft202012Validator, validators

from parley.compiler import compile_path
from parley.compiler import plan as p
from parley.compiler.plan_schema import hints, is_union, named_unions, plan_schema, schema_text, union_members
from parley.compiler.serialize import RECORDS as KINDS, from_data, plan_from_json, plan_to_json, to_data
from parley.dsl._build import MAX_EXPRESSION_DEPTH
from parley.dsl.errors import PlanError
from parley.dsl.source import Span
from helpers import EXAMPLES, ROOT

SCHEMA_FILE = ROOT / "docs" / "plan.schema.json"
SCHEMA = plan_schema()
VALIDATOR = Draft202012Validator(SCHEMA)

#: The schema as Python's `json` reads numbers: `3.0` is a float, never an int (JSON
#: Schema calls it an integer, but the loader keeps the type it reads).
StrictValidator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)
    ),
)
STRICT_VALIDATOR = StrictValidator(SCHEMA)


def fuzz(max_examples: int) -> settings:
    """Derandomized (the same examples every run), no deadline, a fixed budget."""
    return settings(max_examples=max_examples, derandomize=True, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


# --- random plans -------------------------------------------------------------------

#: Leaves per recursive union: small plans keep the file fast and failures readable.
MAX_LEAVES = {"Expr": 5, "Step": 4, "Condition": 3, "TypeRef": 3}
#: Items per tuple field (declarations, arguments, parts…).
MAX_ITEMS = 2

names = st.text(max_size=6)
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | finite_floats | names,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
    max_leaves=6,
)
positions = st.integers(min_value=1, max_value=10_000)
spans = st.builds(Span, file=names, line=positions, column=positions, end_line=positions, end_column=positions)
SCALARS: dict[Any, SearchStrategy[Any]] = {
    str: names, int: st.integers(), float: finite_floats, bool: st.booleans(), type(None): st.none(),
}
#: Fields narrower than their type: the loader reads only this plan version.
FIELD_OVERRIDES: dict[tuple[type, str], SearchStrategy[Any]] = {(p.Plan, "version"): st.just(p.PLAN_VERSION)}


def _is_record(hint: Any) -> bool:
    return isinstance(hint, type) and attrs.has(hint) and hint is not Span


def _reaches(hint: Any, union: str, seen: frozenset[type] = frozenset()) -> bool:
    """Whether a value of `hint` can contain the named `union` without passing through another named union."""
    if isinstance(hint, str):
        return hint == union
    if (item := _tuple_item(hint)) is not None:
        return _reaches(item, union, seen)
    if is_union(hint):
        return any(_reaches(member, union, seen) for member in union_members(hint))
    if _is_record(hint) and hint not in seen:
        return any(_reaches(field, union, seen | {hint}) for field in hints(hint).values())
    return False


def _tuple_item(hint: Any) -> Any:
    """The item type of `tuple[X, ...]`; None for any other hint."""
    return typing.get_args(hint)[0] if typing.get_origin(hint) is tuple else None


class PlanStrategies:
    """Strategies for every type of plan data; each named union recursive through `st.recursive`.

    `within` maps a named union to the strategy for its occurrences inside its own
    recursive members (the `children` of `st.recursive`), which bounds the depth.
    """

    def __init__(self) -> None:
        self.unions: dict[str, SearchStrategy[Any]] = {}

    def of(self, hint: Any, within: dict[str, SearchStrategy[Any]]) -> SearchStrategy[Any]:
        if hint is Any:
            return json_values
        if hint is Span:
            return spans
        if isinstance(hint, str):
            return within[hint] if hint in within else self.union(hint)
        if (item := _tuple_item(hint)) is not None:
            return st.lists(self.of(item, within), max_size=MAX_ITEMS).map(tuple)
        if is_union(hint):
            return st.one_of([self.of(member, within) for member in union_members(hint)])
        if _is_record(hint):
            return self.record(hint, within)
        if typing.get_origin(hint) is typing.Literal:
            return st.sampled_from(typing.get_args(hint))
        return SCALARS[hint]

    def record(self, cls: type, within: dict[str, SearchStrategy[Any]]) -> SearchStrategy[Any]:
        fields = {
            name: FIELD_OVERRIDES[cls, name] if (cls, name) in FIELD_OVERRIDES else self.of(hint, within)
            for name, hint in hints(cls).items()
        }
        return st.builds(cls, **fields)

    def union(self, name: str) -> SearchStrategy[Any]:
        if name not in self.unions:
            self.unions[name] = st.deferred(lambda: self._build_union(name))
        return self.unions[name]

    def _build_union(self, name: str) -> SearchStrategy[Any]:
        members = named_unions()[name]
        leaves = st.one_of([self.record(m, {}) for m in members if not _reaches(m, name)])
        nested = [m for m in members if _reaches(m, name)]
        if not nested:
            return leaves
        return st.recursive(
            leaves,
            lambda children: st.one_of([self.record(m, {name: children}) for m in nested]),
            max_leaves=MAX_LEAVES.get(name, 3),
        )


STRATEGIES = PlanStrategies()
plans: SearchStrategy[p.Plan] = STRATEGIES.record(p.Plan, {})
RECORDS = [v for v in vars(p).values() if _is_record(v) and isinstance(getattr(v, "kind", None), str)]


def test_strategy_reaches_every_record() -> None:
    """Every record kind can be generated (a record left out would go untested)."""
    reachable: set[type] = set()

    def walk(hint: Any) -> None:
        if isinstance(hint, str):
            for member in named_unions()[hint]:
                walk(member)
        elif (item := _tuple_item(hint)) is not None:
            walk(item)
        elif is_union(hint):
            for member in union_members(hint):
                walk(member)
        elif _is_record(hint) and hint not in reachable:
            reachable.add(hint)
            for field in hints(hint).values():
                walk(field)

    walk(p.Plan)
    assert set(RECORDS) == reachable


# --- the schema ----------------------------------------------------------------------


def test_committed_schema_is_current() -> None:
    """`docs/plan.schema.json` is what the records say now."""
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), (
        "docs/plan.schema.json is stale: .venv/bin/python -m compiler.plan_schema > docs/plan.schema.json"
    )


def test_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(SCHEMA)


def test_schema_describes_every_record() -> None:
    """Each record kind has a definition with its `kind`, the fields without a default required, no others allowed."""
    defs = SCHEMA["$defs"]
    for cls in RECORDS:
        schema = defs[cls.__name__]
        assert schema["properties"]["kind"] == {"const": cls.kind}
        assert schema["required"] == ["kind", *(f.name for f in attrs.fields(cls) if f.default is attrs.NOTHING)]
        assert schema["additionalProperties"] is False
        assert schema["description"]


# --- valid plans ----------------------------------------------------------------------


@fuzz(120)
@given(plans)
def test_round_trip_is_exact(plan: p.Plan) -> None:
    text = plan_to_json(plan)
    loaded = plan_from_json(text, validate=False)
    assert loaded == plan
    assert plan_to_json(loaded) == text  # types kept too: `1`, `1.0` and `True` are all equal


@fuzz(120)
@given(plans)
def test_json_validates_against_schema(plan: p.Plan) -> None:
    VALIDATOR.validate(json.loads(plan_to_json(plan)))


@fuzz(60)
@given(plans)
def test_json_is_deterministic(plan: p.Plan) -> None:
    text = plan_to_json(plan)
    assert plan_to_json(plan) == text
    assert plan_to_json(copy.deepcopy(plan)) == text
    assert plan_to_json(plan, indent=None) == json.dumps(json.loads(text), ensure_ascii=False)


@pytest.mark.parametrize("cls", RECORDS, ids=lambda cls: cls.__name__)
def test_every_record_round_trips_and_validates(cls: type) -> None:
    """Each record on its own: whole random plans reach the rarer kinds (`says`, `call`…) too seldom."""
    validator = Draft202012Validator({**SCHEMA, "$ref": f"#/$defs/{cls.__name__}"})

    @fuzz(12)
    @given(STRATEGIES.record(cls, {}))
    def check(value: Any) -> None:
        data = json.loads(json.dumps(to_data(value)))
        assert from_data(data, cls) == value
        validator.validate(data)

    check()


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.agent")), ids=lambda path: path.name)
def test_example_plans_validate_and_round_trip(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the compiler really emits, not only what the strategy builds."""
    monkeypatch.chdir(ROOT)
    plan = compile_path(path, display=str(path.relative_to(ROOT))).plan
    assert plan is not None
    text = plan_to_json(plan)
    VALIDATOR.validate(json.loads(text))
    assert plan_from_json(text) == plan
    assert plan_to_json(plan_from_json(text)) == text


def _without_defaulted_fields(data: Any) -> Any:
    """`data` without the fields that hold their default, as a plan written before those fields existed."""
    if isinstance(data, list):
        return [_without_defaulted_fields(item) for item in data]
    if not isinstance(data, dict) or "kind" not in data:
        return data
    defaults = {f.name: to_data(f.default.factory() if isinstance(f.default, attrs.Factory) else f.default)
                for f in attrs.fields(KINDS[data["kind"]]) if f.default is not attrs.NOTHING}
    return {key: _without_defaulted_fields(value) for key, value in data.items()
            if key not in defaults or value != defaults[key]}


def test_a_missing_field_with_a_default_reads_as_its_default() -> None:
    """A plan of this version written before a field was added keeps its meaning; one without a required
    field is refused, by the loader and by the schema alike."""
    plan = compile_path(EXAMPLES / "review.agent").plan
    assert plan is not None
    data = json.loads(plan_to_json(plan))
    older = _without_defaulted_fields(data)
    assert "agent_expr" in json.dumps(data) and "agent_expr" not in json.dumps(older)
    VALIDATOR.validate(older)
    assert plan_from_json(json.dumps(older)) == plan
    del older["body"][0]["span"]
    with pytest.raises(PlanError, match="lacks 'span'"):
        plan_from_json(json.dumps(older), validate=False)
    assert not VALIDATOR.is_valid(older)


def _empty_plan(**fields: Any) -> p.Plan:
    base: dict[str, Any] = {
        f.name: () for f in attrs.fields(p.Plan)
    } | {"version": p.PLAN_VERSION, "file": "a.agent", "source_sha256": "0" * 64, "default_model": None}
    return p.Plan(**(base | fields))


SPAN = Span("a.agent", 1, 1, 1, 5)


def _print(value: p.Expr) -> p.PrintStep:
    return p.PrintStep(id="s1", span=SPAN, reads=(), writes=(), value=value)


def test_expression_and_step_of_the_same_statement_round_trip() -> None:
    """`Ask`/`AskStep` and `Call`/`CallStep` are told apart by kind (they once shared one)."""
    ask = p.Ask(agent="critic", message=p.Text(parts=("ok?",)), yes_no=True, type=None, span=SPAN)
    call = p.Call(callee="len", callee_kind="builtin", args=(p.Var(name="x"),), keywords=())
    plan = _empty_plan(body=(
        _print(ask),
        p.CallStep(id="s2", span=SPAN, reads=(), writes=(), expr=call),
        p.AskStep(id="s3", span=SPAN, reads=(), writes=(), agent="critic", message=p.Text(parts=()), target=None,
                  type=None),
    ))
    assert plan_from_json(plan_to_json(plan), validate=False) == plan


def test_deepest_expression_round_trips() -> None:
    """An expression as deep as the parser allows, inside nested steps, loads back."""
    expr: p.Expr = p.Var(name="x")
    for _ in range(MAX_EXPRESSION_DEPTH):
        expr = p.Unary(op="-", operand=expr)
    step: p.Step = _print(expr)
    for _ in range(10):
        step = p.RepeatStep(id="l", span=SPAN, reads=(), writes=(), count=p.Const(value=2), body=(step,))
    plan = _empty_plan(body=(step,))
    assert plan_from_json(plan_to_json(plan), validate=False) == plan


# --- malformed input ---------------------------------------------------------------------


def _valid_data() -> dict[str, Any]:
    chat = p.ChatStep(id="s2", span=SPAN, reads=(), writes=(), members=("a", "b"), opening=p.Var(name="x"),
                      until=p.TurnsCondition(count=4), max_turns=10, target=None)
    plan = _empty_plan(
        body=(_print(p.Duration(seconds=1.5)), chat),
        budgets=(p.Budget(metric="turns", limit=5, span=SPAN),),
    )
    data = to_data(plan)
    assert isinstance(data, dict)
    return data


def _damaged(change: Any) -> str:
    data = _valid_data()
    change(data)
    return json.dumps(data)


def _set(path: str, value: Any) -> Any:
    """A change setting the value at a dotted path (`body.0.span.line`)."""
    *parents, last = path.split(".")

    def change(data: Any) -> None:
        for key in parents:
            data = data[int(key)] if isinstance(data, list) else data[key]
        data[int(last) if isinstance(data, list) else last] = value

    return change


def _delete(path: str) -> Any:
    *parents, last = path.split(".")

    def change(data: Any) -> None:
        for key in parents:
            data = data[int(key)] if isinstance(data, list) else data[key]
        del data[int(last) if isinstance(data, list) else last]

    return change


MALFORMED: dict[str, str] = {
    "not JSON": "{kind: plan",
    "empty text": "",
    "a list": "[]",
    "a string": '"plan"',
    "wrong top-level kind": _damaged(_set("kind", "step")),
    "no top-level kind": _damaged(_delete("kind")),
    "wrong version": _damaged(_set("version", "0")),
    "older version": _damaged(_set("version", "1")),
    "newer version": _damaged(_set("version", str(int(p.PLAN_VERSION) + 1))),
    "version as a number": _damaged(_set("version", 1)),
    "unknown closed-set tag": _damaged(_set("budgets.0.metric", "forever")),
    "closed-set tag not a string": _damaged(_set("budgets.0.metric", 1)),
    "unknown tag in a tuple of tags": _damaged(_set("body.0.value", {
        "kind": "compare", "left": {"kind": "var", "name": "x"}, "ops": ["<>"], "comparators": [
            {"kind": "var", "name": "y"}]})),
    "the loop of plan version 1": _damaged(_set("body.0", {
        "kind": "loop", "id": "s1", "span": to_data(SPAN), "reads": [], "writes": [], "loop": "repeat",
        "variables": [], "iterable": None, "count": {"kind": "const", "value": 2}, "test": None, "limit": None,
        "body": []})),
    "missing field": _damaged(_delete("file")),
    "missing field in a step": _damaged(_delete("body.0.value")),
    "unknown record kind": _damaged(_set("body.0.kind", "teleport")),
    "record of another union": _damaged(_set("body.0", {"kind": "turns", "count": 1})),
    "kind that is a list": _damaged(_set("body.0.value.kind", ["duration"])),
    "kind that is an object": _damaged(_set("body.0.kind", {})),
    "wrong scalar type": _damaged(_set("body.1.max_turns", "10")),
    "bool for an int": _damaged(_set("body.1.max_turns", True)),
    "float for an int": _damaged(_set("body.1.until.count", 4.5)),
    "bool for a number": _damaged(_set("body.0.value.seconds", False)),
    "list for a tuple field's item": _damaged(_set("body.1.members", [["a"]])),
    "object for a list": _damaged(_set("models", {})),
    "unknown field": _damaged(_set("body.0.colour", "red")),
    "unknown top-level field": _damaged(_set("extra", 1)),
    "span not an object": _damaged(_set("body.0.span", [1, 1, 1, 1])),
    "span missing a position": _damaged(_delete("body.0.span.line")),
    "span with an unknown key": _damaged(_set("body.0.span.offset", 3)),
    "span position not an int": _damaged(_set("body.0.span.column", "1")),
    "span position zero": _damaged(_set("body.0.span.line", 0)),
    "NaN": _damaged(_set("body.0.value.seconds", 1.5)).replace("1.5", "NaN"),
    "Infinity": _damaged(_set("body.0.value.seconds", 1.5)).replace("1.5", "Infinity"),
    "number too large for a float": _damaged(_set("body.0.value.seconds", 10**400)),
    "integer too long to read": _damaged(_set("budgets.0.limit", 7)).replace('"limit": 7', '"limit": ' + "7" * 5000),
    "nested too deeply for the JSON reader": '{"kind": "plan", "version": "1", "x": ' + "[" * 100_000 + "]" * 100_000
    + "}",
    # Shallow enough for the JSON reader, too deep for a reader that recurses per record.
    "expressions nested too deeply": _damaged(_set("body.0.value", "@")).replace(
        '"@"', '{"kind": "unary", "op": "-", "operand": ' * 400 + '{"kind": "var", "name": "x"}' + "}" * 400
    ),
}


@pytest.mark.parametrize("text", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_input_raises_plan_error(text: str) -> None:
    with pytest.raises(PlanError):
        plan_from_json(text)


def test_the_undamaged_document_loads() -> None:
    """The base of the malformed cases is itself valid, so each case tests its own damage."""
    plan_from_json(json.dumps(_valid_data()), validate=False)


def _nodes(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path of every value in a JSON document, the document itself first."""
    found = [path]
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        found += _nodes(value, (*path, key))
    return found


def _at(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        data = data[key]
    return data


@st.composite
def damaged_plans(draw: st.DrawFn) -> Any:
    """A valid plan's JSON data with 1–3 changes: a value deleted, replaced with random JSON or with a copy
    of another part of the document (a step where an expression goes…), or an unknown key or item added."""
    data = to_data(draw(plans))
    # Places are picked uniformly: Hypothesis favours the first (the top-level `kind`, tested above).
    rnd = random.Random(draw(st.integers(min_value=0, max_value=2**32)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _nodes(data)
        path = rnd.choice(paths[1:])
        parent, key = _at(data, path[:-1]), path[-1]
        how = draw(st.sampled_from(["delete", "replace", "transplant", "add"]))
        if how == "delete":
            del parent[key]
        elif how == "replace":
            parent[key] = draw(json_values)
        elif how == "transplant":
            parent[key] = copy.deepcopy(_at(data, rnd.choice(paths)))
        elif isinstance(parent, dict):
            parent[draw(names)] = draw(json_values)
        else:
            parent.insert(key, draw(json_values))
    return data


@fuzz(200)
@given(damaged_plans())
def test_damaged_plans_load_or_raise_plan_error(data: Any) -> None:
    """Loading either succeeds or raises `PlanError`, and succeeds exactly when the schema accepts."""
    try:
        plan_from_json(json.dumps(data), validate=False)
        loaded = True
    except PlanError:
        loaded = False
    valid = STRICT_VALIDATOR.is_valid(data)
    verdict = {True: "accepts", False: "rejects"}
    assert loaded == valid, f"the loader {verdict[loaded]} a document the schema {verdict[valid]}"


def test_an_older_plan_is_refused_clearly() -> None:
    """A plan of an older version says so, and how to get a current one."""
    with pytest.raises(PlanError) as raised:
        plan_from_json(_damaged(_set("version", "1")))
    assert str(raised.value) == (
        f"this plan is version 1, written by an older Parley; this Parley reads only plan version "
        f"{p.PLAN_VERSION}: compile the script again (`parley plan SCRIPT --format json`)"
    )


# --- closed sets ---------------------------------------------------------------------------


def test_a_closed_set_refuses_other_strings_when_built_by_hand() -> None:
    with pytest.raises(PlanError, match=r"GroupStep.select is 'auto', 'round_robin', 'random', 'manual' or 'handoff', "
                                        r"not 'forever'"):
        p.GroupStep(id="s1", span=SPAN, reads=(), writes=(), members=("a", "b"), opening=p.Var(name="x"),
                    until=None, max_turns=10, target=None, select="forever",  # type: ignore[arg-type]
                    seed=None, flow=(), manager=None)
    with pytest.raises(PlanError, match=r"each of Compare.ops is .* not '<>'"):
        p.Compare(left=p.Var(name="x"), ops=("==", "<>"), comparators=())  # type: ignore[arg-type]
    with pytest.raises(PlanError, match=r"AgentSettings.languages is 'python' or 'sh', not 'ruby'"):
        p.AgentSettings(languages=("ruby",))  # type: ignore[arg-type]


def test_a_closed_set_refuses_other_strings_in_json() -> None:
    data = _valid_data()
    data["body"][1] = to_data(p.GroupStep(
        id="s2", span=SPAN, reads=(), writes=(), members=("a", "b"), opening=p.Var(name="x"), until=None,
        max_turns=10, target=None, select="auto", seed=None, flow=(), manager=None))
    plan_from_json(json.dumps(data), validate=False)
    data["body"][1]["select"] = "forever"
    with pytest.raises(PlanError, match="expected one of 'auto', 'round_robin', 'random', 'manual', 'handoff', "
                                        "found 'forever'"):
        plan_from_json(json.dumps(data))
    assert not VALIDATOR.is_valid(data)


def test_closed_sets_are_what_the_compiler_accepts() -> None:
    """The plan's tags, the syntax tree's and the compiler's tables name the same sets."""
    from parley.compiler.declarations import PROVIDERS
    from parley.compiler.resolve import SETTINGS
    from parley.dsl import nodes as n
    from parley.dsl._build import SELECT_MODES

    assert set(typing.get_args(p.SelectMode)) == set(SELECT_MODES)
    assert set(typing.get_args(p.Provider)) == set(PROVIDERS)
    assert set(typing.get_args(p.ModelOptionName)) == {name for _, options in PROVIDERS.values() for name in options}
    assert set(typing.get_args(p.AgentKind)) == set(SETTINGS)
    assert typing.get_args(p.AgentKind) == typing.get_args(typing.get_type_hints(n.AgentDecl)["kind"])
    assert typing.get_args(p.UsageMetric) == typing.get_args(typing.get_type_hints(n.UsageCondition)["metric"])
    assert typing.get_args(p.BudgetMetric) == typing.get_args(typing.get_type_hints(n.BudgetStmt)["kind"])
    assert typing.get_args(p.BoolOperator) == typing.get_args(typing.get_type_hints(n.BoolCondition)["op"])
    settings = {name for names in SETTINGS.values() for name in names} - {"model", "tools", "description"}
    assert settings == {field.name for field in attrs.fields(p.AgentSettings)}


def test_the_runtime_evaluates_every_operator() -> None:
    from parley.runtime.evaluate import _BINARY, _COMPARE

    assert {*_BINARY, "and", "or"} == set(typing.get_args(p.BinaryOperator))
    assert set(_COMPARE) == set(typing.get_args(p.CompareOperator))


def test_closed_sets_are_enums_in_the_schema() -> None:
    defs = SCHEMA["$defs"]
    assert defs["GroupStep"]["properties"]["select"] == {
        "type": "string", "enum": ["auto", "round_robin", "random", "manual", "handoff"]}
    assert defs["Compare"]["properties"]["ops"]["items"]["enum"] == list(typing.get_args(p.CompareOperator))
    assert defs["AgentSettings"]["properties"]["languages"] == {"oneOf": [
        {"type": "array", "items": {"type": "string", "enum": ["python", "sh"]}}, {"type": "null"}]}
