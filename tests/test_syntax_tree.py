"""The syntax tree of every construct, pinned by snapshots (spans included)."""

from __future__ import annotations

import pytest

import parley
from parley.dsl import nodes as n
from parley.dsl.dump import dump

CONSTRUCTS: dict[str, str] = {
    "model": 'model smart = openai("gpt-4o-mini", temperature=0.2, base_url="http://localhost:8000/v1")\n',
    "model-local": "model tiny = local()\n",
    "default-model": "default model smart\n",
    "agent-llm": (
        "agent writer:\n"
        '    """You are a concise technical writer."""\n'
        "    model: smart\n"
        "    tools: search, save\n"
        "    temperature: 0.2\n"
        "    max_tool_rounds: 3\n"
        "    memory: 10\n"
        "    reply by review_loop\n"
    ),
    "agent-settings-only": "agent critic:\n    description: \"Reviews drafts\"\n",
    "agent-human": "agent you is human\n",
    "agent-human-block": 'agent you is human:\n    description: "The editor in chief"\n',
    "agent-executor": "agent runner is executor:\n    timeout: 30s\n    languages: [\"python\", \"sh\"]\n",
    "agent-python": 'agent calc is python "tools:calculate"\n',
    "import": 'import "lib/roles.agent" as roles\n',
    "from-import": 'from "lib/roles.agent" import writer, critic as reviewer\n',
    "python-import": 'from python "math" import sqrt, floor as round_down\n',
    "type-record": 'type Verdict:\n    score: int\n    verdict: "publish" | "revise"\n    notes: list[str] = []\n',
    "type-generic": "type Index:\n    counts: dict[str, int]\n    maybe: str | none\n",
    "type-alias": 'type Mood = "calm" | "angry"\n',
    "input": 'input topic: str = "Lark parsers"\ninput count: int\n',
    "output": "output review.summary\n",
    "budgets": "budget 20000 tokens\nbudget 40 turns\nbudget $1.50\nbudget 10m\n",
    "prose-ask": "@writer Draft a blurb about {topic}: keep it \"short\" # and #5 stays\n",
    "prose-ask-assign": "draft = @writer Draft a blurb about {topic}.\n",
    "string-ask": 'draft = @writer "Draft a blurb about {topic}."\n',
    "string-ask-statement": '@writer "Say hello."\n',
    "typed-ask": "v: Verdict = @critic Score the draft: {draft}\n",
    "typed-ask-union": 'mood: "calm" | "angry" = @reader How does this sound? {text}\n',
    "yes-no-ask": 'ok = @you? "Publish it?"\n',
    "triple-quoted-ask": '@writer """\n    Write a haiku about {topic}.\n    Use {{braces}} literally.\n    """\n',
    "tell": 'tell critic "Be strict about facts: {facts}"\n',
    "forget": "forget writer, critic\n",
    "chat": (
        "review = chat writer, critic:\n"
        '    "Improve this draft: {draft}"\n'
        '    until critic says "APPROVED" or 8 turns\n'
    ),
    "chat-conditions": (
        "chat a, b:\n"
        '    "Plan the trip."\n'
        '    until ("the plan is agreed" and tokens > 2000) or cost > $0.25 or time > 5m or anyone says "DONE"\n'
    ),
    "group": (
        "team = group planner, coder, tester:\n"
        '    "Build a CLI that counts words."\n'
        "    select auto\n"
        "    flow planner -> coder, coder -> tester, tester -> coder | planner\n"
        "    manager smart\n"
        '    until anyone says "DONE" or 20 turns\n'
    ),
    "group-random": 'group a, b, c:\n    "Brainstorm names."\n    select random(seed=7)\n    until 6 turns\n',
    "if-elif-else": (
        'if v.verdict == "publish" and @you? "Publish it?":\n'
        "    print review.last\n"
        "elif v.score >= 5:\n"
        '    print "Close: {v.score}/10"\n'
        "else:\n"
        '    print "Not published"\n'
    ),
    "for": "for name, score in pairs:\n    print name\n",
    "repeat": "repeat 3:\n    @writer Shorter.\n",
    "while": "while not done max 10:\n    done = @critic? \"Done?\"\n    if done:\n        break\n    continue\n",
    "parallel": "parallel:\n    a = @alice Summarize {doc}.\n    b = @bob Critique {doc}.\n",
    "def": (
        "def summarize(text: str, words: int = 50) -> str:\n"
        '    """Summarize a text in a few words."""\n'
        "    return @writer Summarize in {words} words: {text}\n"
    ),
    "def-no-params": "def ping():\n    return\n",
    "assign-aug": "count = 0\ncount += 1\ncount -= 2\ncount *= 3\ncount /= 4\n",
    "expressions": (
        "x = -a ** 2 + b * (c - d) // 3 % 2\n"
        "y = a < b <= c != d\n"
        "z = not a or b and c\n"
        'w = "x" in xs and "y" not in xs and n is none and m is not none\n'
        'v = f(1, key="v")[0].name\n'
        'u = [1, 2.5, true, false, none, 500ms, 30s, $0.50, {"k": [1], "j": {}}]\n'
        'cond = "yes" if ok else "no"\n'
    ),
    "strings": (
        "a = 'single {x}'\n"
        'b = r"raw {not interpolated}\\n"\n'
        'c = "escapes \\t \\" \\\\ {{literal}}"\n'
        'd = "nested {join(xs, \', \')} and {d[\'k\']}"\n'
    ),
    "assign-targets": 'scores[name] = 3\nreport.title = "Q3"\nresults[i] = chat a, b:\n    "Go."\n',
    "numbers-and-raw-triple": 'n = 20_000\npattern = r"""\n    INV-\\d{4}\n    """\n',
    "call-statement": 'save(report, path="out.md")\n',
    "comments": "# a comment\nx = 1  # trailing\n\n    # indented comment line\ny = 2\n",
    "multiline-brackets": "xs = [\n    1,\n    2,\n]\nf(\n  a,\n  b=2,\n)\n",
}


@pytest.mark.parametrize("name", sorted(CONSTRUCTS))
def test_construct_tree(name: str, snapshot) -> None:
    module = parley.parse(CONSTRUCTS[name], f"{name}.agent")
    assert dump(module) == snapshot


def test_every_statement_class_is_covered() -> None:
    seen: set[type] = set()
    for text in CONSTRUCTS.values():
        for statement in _walk(parley.parse(text).body):
            seen.add(type(statement))
    statements = set(n.Stmt.__args__)  # type: ignore[attr-defined]
    assert statements - seen == set()


def test_interpolation_spans_point_into_prose() -> None:
    module = parley.parse("x = @w Hello {user.name}!\n", "t.agent")
    ask = module.body[0].value  # type: ignore[union-attr]
    interpolation = ask.message.parts[1]
    assert interpolation.span.column == 14 and interpolation.span.end_column == 24
    assert interpolation.expr.span.column == 15 and interpolation.expr.span.end_column == 23


def test_triple_quoted_strings_are_dedented() -> None:
    module = parley.parse('@w """\n    Line one {a}\n      indented\n    """\n')
    message = module.body[0].expr.message  # type: ignore[union-attr]
    assert message.parts[0] == "Line one "
    assert message.parts[2] == "\n  indented"


def test_keywords_are_soft_where_documented() -> None:
    module = parley.parse("max = 3\nturns = max\nsays = turns\nselect = 1\nprint t.turns\n")
    assert [s.target.id for s in module.body[:4]] == ["max", "turns", "says", "select"]  # type: ignore[union-attr]


def _walk(body: tuple[n.Stmt, ...]):  # type: ignore[no-untyped-def]
    for statement in body:
        yield statement
        for field in ("body", "orelse"):
            inner = getattr(statement, field, None)
            if isinstance(inner, tuple):
                yield from _walk(inner)
        if isinstance(statement, n.If):
            for branch in statement.branches:
                yield from _walk(branch.body)
