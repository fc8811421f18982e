"""Labelled bad snippets: how Parley turns parser states into messages people can act on.

Each entry is a mistake people make, with a stable code, the message, a
`help` line, and small scripts that make it. When a script fails to parse,
Lark's `match_examples` finds the entry whose snippets fail in the same
parser state (and, preferably, on the same kind of token). `{found}` in a
message is replaced by what the parser found instead, `{previous}` by the
word before it, `{agent}` by the `@agent` before it; `{found_text}` and
`{previous_text}` are the same words without quotes.

An `exact` mistake is about the unexpected token itself (`=` written for
`==`, a reserved word used as a name): it applies only when the script fails
on the same kind of token as one of its examples. `at_previous` puts the
caret under the word before the unexpected token instead of under the token.
Some parser states are shared by unrelated constructs (after `tell critic Be`
the parser is where it is after `x = a`): a `context` is a regular expression
that must match (`search`) the line so far, up to the unexpected token, for
the mistake to apply; `first_in_chat` asks that line to be the first of a
`chat` or `group` block. Contexts see one line, so they run in linear time
even on a megabyte-long line: keep them free of nested or adjacent
overlapping repeats.
"""

from __future__ import annotations

from typing import NamedTuple


class Mistake(NamedTuple):
    """A kind of syntax mistake: `code`, `message`, `help`, the caret `label`, and `examples`."""

    code: str
    message: str
    help: str
    label: str
    examples: tuple[str, ...]
    exact: bool = False
    at_previous: bool = False
    context: str = ""
    first_in_chat: bool = False


def _line_starts(*words: str) -> str:
    """A context: the line so far starts with one of `words`."""
    return r"^[ \t]*(?:" + "|".join(words) + r")\b"


def _colon(construct: str, example: str, *examples: str) -> Mistake:
    article = "an" if construct[0] in "aeiou" else "a"
    return Mistake(
        "P131", f"expected `:` at the end of the `{construct}` line",
        f"{article} `{construct}` line ends with `:` and its block is indented below it", "expected `:` here",
        (example, *examples),
    )


MISTAKES: dict[str, Mistake] = {
    # --- missing colons ------------------------------------------------------
    "colon-if": _colon("if", "if x\n    print x\n", "if x == 1\n    print x\n"),
    "colon-elif": _colon("elif", "if x:\n    print x\nelif y\n    print y\n"),
    "colon-else": _colon("else", "if x:\n    print x\nelse\n    print y\n"),
    "colon-for": _colon("for", "for x in xs\n    print x\n"),
    "colon-while": _colon("while", "while x max 3\n    print x\n"),
    "colon-repeat": _colon("repeat", "repeat 3\n    print 1\n"),
    "colon-parallel": _colon("parallel", "parallel\n    print 1\n"),
    "colon-def": _colon("def", "def f()\n    return 1\n", "def f(x) -> str\n    return x\n",
                        "def f(a, b)\n    return a\n"),
    "colon-agent": _colon("agent", "agent writer\n    model: smart\n"),
    "colon-type": _colon("type", "type Verdict\n    score: int\n"),
    "colon-chat": _colon("chat", 'chat a, b\n    "hi"\n', 'r = chat a, b\n    "hi"\n'),
    # --- blocks and indentation ---------------------------------------------
    "indent-expected": Mistake(
        "P101", "expected an indented block",
        "indent the lines of the block by 4 spaces more than the line ending in `:`", "block expected here",
        ("if x:\nprint x\n", "for x in y:\nprint x\n", "def f():\nreturn 1\n", "parallel:\nprint 1\n",
         "agent w:\nmodel: m\n", "type T:\nx: int\n", "chat a, b:\n\"hi\"\n", "while x max 2:\nprint x\n",
         "if x:\n    print x\nelse:\nprint y\n"),
    ),
    "indent-unexpected": Mistake(
        "P102", "unexpected indentation",
        "indent a line only at the start of a block (after a line ending in `:`)", "unexpected indent",
        ("x = 1\n    y = 2\n", "print 1\n  print 2\n", "for x in xs:\n    print x\n        print 2\n",
         "agent w:\n    model: m\n        tools: t\n"),
    ),
    # --- statements that need a partner --------------------------------------
    "else-without-if": Mistake(
        "P133", "{found} without a matching `if`",
        "`elif` and `else` come right after an `if` block, at the same indentation", "no `if` before this",
        ("else:\n    print 1\n", "elif x:\n    print 1\n", "x = 1\nelse:\n    print 1\n",
         "if x:\n    print 1\n    else:\n        print 2\n",
         "for x in xs:\n    print 1\n    elif y:\n        print 2\n"),
    ),
    "else-if": Mistake(
        "P134", "`else if` is written `elif` in Parley", "write `elif CONDITION:`", "write `elif`",
        ("if x:\n    print 1\nelse if y:\n    print 2\n",),
    ),
    "while-max": Mistake(
        "P135", "`while` needs a bound: `max N`",
        "every loop is bounded: write `while CONDITION max 10:`", "expected `max N` before `:`",
        ("while x:\n    print x\n", "while x < 3:\n    print x\n", "while true:\n    print 1\n"),
    ),
    "while-max-count": Mistake(
        "P136", "`max` needs the largest number of iterations", "write `while CONDITION max 10:`",
        "expected a number", ("while x max:\n    print x\n",),
    ),
    "until-outside": Mistake(
        "P137", "`until` belongs inside a `chat` or `group` block",
        "indent it under `chat a, b:` after the opening message", "not inside a chat",
        ("until 3 turns\n", "x = 1\nuntil critic says \"OK\"\n", 'chat a, b:\n    "hi"\nuntil 3 turns\n',
         'if x:\n    print 1\nuntil 3 turns\n', 'for x in y:\n    print 1\nuntil 3 turns\n'),
    ),
    # --- asks ------------------------------------------------------------------
    "ask-empty": Mistake(
        "P138", "`@{agent}` needs a message", "write the message after the name: `@writer Draft a title.`",
        "message expected", ("@writer\n", "x = @writer\n", "v: T = @writer\n"),
    ),
    "ask-prose-in-expression": Mistake(
        "P139", "in an expression, an ask's message must be a string",
        'quote the message: `@critic "Is it ready?"`, or `@critic? "Is it ready?"` for a yes/no question',
        "quote the message", ("if @critic is it ready:\n    print 1\n", "x = f(@critic hello)\n",
                              "if @critic ready:\n    print 1\n", "while @critic done max 3:\n    print 1\n"),
    ),
    "yes-no-prose": Mistake(
        "P151", "a yes/no ask takes its question as a string", 'write `@you? "Publish it?"`',
        "quote the question", ("if @you? Publish it:\n    print 1\n", "x = @you? ok\n"),
    ),
    "tell-message": Mistake(
        "P152", "`tell` needs an agent and a message", 'write `tell critic "Be strict about facts."`',
        "message expected", ("tell critic\n", "tell\n"),
    ),
    "tell-prose": Mistake(
        "P153", "the message of `tell` is a string", 'write `tell critic "Be strict about facts."`',
        "quote the message", ("tell critic Be strict\n",), exact=True, context=_line_starts("tell"),
    ),
    "forget-agent": Mistake(
        "P154", "`forget` needs the agents whose threads to clear", "write `forget writer` or `forget writer, critic`",
        "agent expected", ("forget\n", "forget 3\n"),
    ),
    # --- conversations ----------------------------------------------------------
    "chat-members": Mistake(
        "P155", "a conversation needs at least two members", "write `chat writer, critic:` (a group takes two or more)",
        "second member expected", ('chat writer:\n    "hi"\n', 'group writer:\n    "hi"\n', 'x = chat a:\n    "hi"\n'),
    ),
    "chat-opening": Mistake(
        "P156", "a conversation starts with its opening message",
        'put the opening first in the block, as a string: `"Improve this draft: {draft}"`', "opening expected",
        ('chat a, b:\n    until 3 turns\n', 'group a, b:\n\n    until anyone says "DONE"\n'),
    ),
    # `select auto` as the first line reads as the expression `select`, then a stray word.
    "chat-opening-clause": Mistake(
        "P156", "a conversation starts with its opening message",
        'put the opening first in the block, as a string: `"Improve this draft: {draft}"`', "opening expected",
        ('group a, b:\n    select auto\n    "hi"\n', 'group a, b:\n    manager smart\n',
         'group a, b:\n    flow a -> b\n'),
        at_previous=True, context=_line_starts("select", "flow", "manager"), first_in_chat=True,
    ),
    "chat-opening-prose": Mistake(
        "P157", "the opening message of a conversation is a string", 'quote it: `"Discuss the plan."`',
        "quote the opening", ('chat a, b:\n    Discuss the plan\n', 'group a, b, c:\n    Plan the release.\n'),
        exact=True, at_previous=True, first_in_chat=True,
    ),
    "until-turns": Mistake(
        "P158", "a number in `until` counts turns: write `N turns`",
        "write `until 8 turns` (or `until critic says \"DONE\" or 8 turns`)",
        "expected `turns`", ('chat a, b:\n    "hi"\n    until 8 messages\n', 'chat a, b:\n    "hi"\n    until 8 rounds\n'),
    ),
    "until-says": Mistake(
        "P159", "after an agent's name, `until` expects `says \"TEXT\"`",
        'write `until critic says "APPROVED"`', "expected `says`",
        ('chat a, b:\n    "hi"\n    until critic "APPROVED"\n', 'chat a, b:\n    "hi"\n    until critic APPROVED\n'),
    ),
    "says-string": Mistake(
        "P160", "`says` takes the text to look for, as a string", 'write `until critic says "APPROVED"`',
        "quote the text", ('chat a, b:\n    "hi"\n    until critic says APPROVED\n',
                           'chat a, b:\n    "hi"\n    until anyone says DONE\n'),
    ),
    "until-empty": Mistake(
        "P161", "`until` needs a condition",
        'write `until 8 turns`, `until critic says "OK"`, `until "the plan is agreed"`, or combine them with `or`',
        "condition expected", ('chat a, b:\n    "hi"\n    until\n',),
    ),
    "until-dangling": Mistake(
        "P186", "expected a condition after {previous}",
        'complete it, e.g. `until critic says "DONE" or 8 turns`', "condition expected",
        ('chat a, b:\n    "hi"\n    until 8 turns or\n', 'chat a, b:\n    "hi"\n    until a says "X" and\n',
         'chat a, b:\n    "hi"\n    until a says "X" or or 3 turns\n'),
    ),
    "not-says": Mistake(
        "P149", "a `says` condition cannot be negated",
        'stop on what the agent says when it is done (`until assistant says "ANSWER" or 6 turns`), '
        "or on a value the script keeps (`until not waiting or 6 turns`)", "`not` cannot take this",
        ('chat a, b:\n    "hi"\n    until not a says "X" or 3 turns\n',
         'chat a, b:\n    "hi"\n    until not a says "X"\n'),
        exact=True,
    ),
    "flow-arrow": Mistake(
        "P162", "a flow edge is written `a -> b`", "write `flow planner -> coder, coder -> tester | planner`",
        "expected `->`", ('group a, b:\n    "hi"\n    flow a b\n', 'group a, b:\n    "hi"\n    flow a\n'),
    ),
    "select-mode": Mistake(
        "P163", "`select` needs a mode", "choose one of: auto, round_robin, random, manual, handoff",
        "mode expected", ('group a, b:\n    "hi"\n    select\n',),
    ),
    # --- declarations -----------------------------------------------------------
    "model-provider": Mistake(
        "P164", "a model is declared by calling its provider",
        'write `model smart = openai("gpt-4o-mini")` (or `local()`)', "provider call expected",
        ('model smart = "gpt-4o"\n', "model smart = gpt4\n", "model smart\n"),
    ),
    "agent-kind": Mistake(
        "P165", "expected `:` or `is` after the agent's name",
        "write `agent writer:` and a block, or `agent you is human`", "expected `:` or `is`",
        ("agent you human\n",),
    ),
    "setting-colon": Mistake(
        "P166", "an agent setting is written `key: value`", "put `:` after the setting's name: `{previous_text}: …`",
        "expected `:`", ("agent w:\n    model smart\n", "agent w:\n    temperature 0.2\n",
                         "agent w:\n    model = smart\n"),
    ),
    "reply-by": Mistake(
        "P167", "`reply by` names the def that computes the agent's replies", "write `reply by review_loop`",
        "def name expected", ("agent w:\n    reply review\n", "agent w:\n    reply by\n"),
    ),
    "field-type": Mistake(
        "P168", "a record field needs a type: `name: type`",
        "write `score: int` (types: str int float bool list[T] dict[str, T])",
        "type expected", ("type T:\n    score\n", "type T:\n    score int\n", "type T:\n    score:\n"),
    ),
    "input-type": Mistake(
        "P169", "an input needs a type", 'write `input topic: str = "Lark parsers"`', "expected `: TYPE`",
        ('input topic = "x"\n', "input topic\n"),
    ),
    "budget-unit": Mistake(
        "P170", "a budget needs a unit: `tokens`, `turns`, a `$` amount or a duration",
        "write `budget 20000 tokens`, `budget 40 turns`, `budget $1.00` or `budget 10m`",
        "expected `tokens` or `turns`", ("budget 100\n", "budget 100 dollars\n"),
    ),
    "import-path": Mistake(
        "P171", "imports name a file or module as a string",
        'write `import "roles.agent"`, `from "roles.agent" import writer` or `from python "math" import sqrt`',
        "quote the path", ("import roles\n", "from roles import writer\n", "from python math import sqrt\n"),
    ),
    "import-names": Mistake(
        "P172", "`from … import` needs the names to import", 'write `from "roles.agent" import writer, critic`',
        "names expected", ('from "roles.agent" import\n', 'from "roles.agent"\n', 'from python "math"\n'),
    ),
    "type-expected": Mistake(
        "P187", "expected a type after {previous}",
        "types are str, int, float, bool, list[T], dict[str, T], a record type's name, "
        'or literal strings: `"a" | "b"`',
        "type expected", ("type T =\n", 'input t: = "x"\n', "x: = 3\n", 'type T:\n    x: "a" |\n',
                          "def f(a:):\n    return a\n", "def f() ->:\n    return 1\n"),
    ),
    "def-parens": Mistake(
        "P173", "a def lists its parameters in parentheses", "write `def summarize(text):` (or `def greet():`)",
        "expected `(`", ("def f:\n    return 1\n", "def f x:\n    return 1\n"),
    ),
    "for-in": Mistake(
        "P174", "a `for` loop is written `for NAME in EXPRESSION:`", "write `for item in items:`",
        "expected `in`", ("for x of xs:\n    print x\n", "for x xs:\n    print x\n"),
    ),
    "repeat-count": Mistake(
        "P175", "`repeat` needs a count", "write `repeat 3:`", "count expected", ("repeat:\n    print 1\n",),
    ),
    "repeat-times": Mistake(
        "P195", "`repeat` takes a count alone: `repeat 3:`", "drop the word after the count: `repeat 3:`",
        "not needed", ("repeat 3 times:\n    print 1\n", "repeat n times:\n    print 1\n"),
        exact=True, context=_line_starts("repeat"),
    ),
    "default-without-model": Mistake(
        "P196", "`default` sets the default model: write `default model NAME`",
        "write `default model smart` (and declare it: `model smart = openai(\"gpt-4o-mini\")`)",
        "`model` expected before the name", ("default smart\n", "default gpt\nagent a:\n    \"x\"\n"),
        exact=True,
    ),
    "parallel-argument": Mistake(
        "P176", "`parallel:` takes no argument", "put each branch as a statement in the indented block",
        "unexpected", ("parallel x:\n    print 1\n",),
    ),
    # --- expressions ------------------------------------------------------------
    "dangling-operator": Mistake(
        "P177", "expected an expression after {previous}", "complete it, e.g. `total = price + tax`",
        "expression expected", ("x = 1 +\n", "x = a and\n", "x = not\n", "x = a ==\n", "x = a *\n", "x = -\n",
                                "if a or:\n    print 1\n", "x = a if\n", "x =\n", "x +=\n", "print\n", "output\n",
                                "if:\n    print 1\n", "if x:\n    print 1\nelif:\n    print 2\n",
                                "for x in:\n    print x\n", "x = a **\n", "x = a is\n", "x = a[]\n",
                                'x = {"a": }\n', "x = [1,, 2]\n", "x = f(a=)\n", 'input t: str =\n',
                                "x = ()\n", "return -\n"),
    ),
    "assign-compare": Mistake(
        "P178", "`=` assigns; to compare, use `==`", "write `if x == 3:`", "did you mean `==`?",
        ("if x = 3:\n    print x\n", "while x = 3 max 2:\n    print x\n"), exact=True,
    ),
    "assign-target": Mistake(
        "P179", "only a name, an item or a field can be assigned to",
        "assign to a name (`total = …`), an item (`scores[name] = …`) or a field (`report.title = …`)",
        "the left side of `=` cannot be assigned to",
        ("f() = 3\n", "1 = x\n", '"a" = x\n', "x = 1\nf(x) = 2\n"), exact=True,
    ),
    "missing-comma": Mistake(
        "P180", "expected `,` between items", "separate items with commas: `[a, b]`, `f(a, b)`", "expected `,`",
        ("x = [1 2]\n", "x = f(a b)\n", "x = {\"a\": 1 \"b\": 2}\n", 'x = f("a" b)\n',
         'model m = openai("gpt-4o" temperature=0.2)\n', 'x = ["a" "b"]\n', "def f(a b):\n    return a\n",
         "agent w:\n    tools: search save\n"),
        exact=True,
    ),
    "tuple": Mistake(
        "P188", "parentheses hold one expression: Parley has no tuples",
        'use a list, `[a, b]`, or one string to show several values: `print "{a} {b}"`', "expected `)`",
        ('print("a", "b")\n', "x = (1, 2)\n"), exact=True,
    ),
    "keyword-argument": Mistake(
        "P189", "a keyword argument is written `name=value`",
        'write `name=value`, as in `openai("gpt-4o", temperature=0.2)` or `select random(seed=7)`',
        "expected `=`", ('model m = openai("x", temperature: 0.2)\n', "x = f(a: 1)\n"), exact=True,
    ),
    "dict-colon": Mistake(
        "P181", "a dict entry is written `key: value`", 'write `{"name": "Ada"}`', "expected `:`",
        ('x = {"a" 1}\n', 'x = {"a"}\n'),
    ),
    "keyword-as-name": Mistake(
        "P182", "{found} is a reserved word and cannot be used as a name", "choose another name, e.g. `{found_text}_`",
        "reserved word", ("agent if:\n    model: m\n", "for in in xs:\n    print 1\n",
                          "def print():\n    return 1\n", "input output: str\n", "x = [if]\n",
                          "type model:\n    x: int\n", "model type = openai(\"x\")\n",
                          "for x, in in xs:\n    print 1\n",
                          "def f(input):\n    return 1\n", "agent you is human\nforget output\n",
                          "type T:\n    input: str\n", "type T:\n    x: int\n    output: str\n",
                          "agent w:\n    type: x\n", "agent w:\n    model: m\n    input: x\n"),
        exact=True,
    ),
    # A reserved word at the start of a statement, then `=`: a variable named like a keyword.
    "keyword-assigned": Mistake(
        "P182", "{previous} is a reserved word and cannot be used as a name",
        "choose another name, e.g. `{previous_text}_`", "reserved word",
        ("input = 3\n", "output = 3\n", "type = 3\n", "model = 3\n", "print = 3\n", "default = 3\n",
         "return = 3\n", "tell = 3\n", "budget = 3\n", "while = 3\n", "for = 3\n", "if = 3\n", "def = 3\n",
         "agent = 3\n", "chat = 3\n", "group = 3\n", "import = 3\n", "from = 3\n", "forget = 3\n",
         "repeat = 3\n", "parallel = 3\n", "x = 1\ninput = 2\n"),
        exact=True, at_previous=True,
    ),
    "break-value": Mistake(
        "P183", "{previous} takes nothing after it", "write `{previous_text}` alone on its line", "unexpected",
        ("break 3\n", "continue x\n", "for x in xs:\n    break now\n"),
    ),
    "juxtaposed": Mistake(
        "P184", "two values next to each other, with no operator between them",
        'join text with `+`, or write one string: `"{a} {b}"`',
        "expected an operator or end of line", ('x = "a" "b"\n', "x = a b\n", "print a b\n", "x = 1 2\n",
                                                 'x = "Hello, " name\n', "x = 1 abc\n"),
        exact=True,
    ),
    "unknown-statement": Mistake(
        "P190", "{previous} does not start a Parley statement",
        "variables need no declaration (`x = 3`), a function is `def name(params):`, "
        "and an ask names its agent with `@`: `@writer Draft a title.`", "not a statement",
        ("let x = 3\n", "func f(x):\n    return x\n", "x = 1\nvar y = 2\n", "if x:\n    let y = 2\n",
         "writer Draft a title.\n"),
        exact=True, at_previous=True, context=r"^[ \t]*[A-Za-z_][A-Za-z0-9_]*[ \t]+$",
    ),
    "f-string": Mistake(
        "P191", "Parley strings need no `f` prefix: every string interpolates `{…}`",
        'remove the `f`: `"hello {name}"`', "remove the `f`",
        ('print(f"hello {x}")\n', 'x = f"hi {y}"\n', 'print f"hi"\n', 'x = [f"a"]\n'),
        exact=True, at_previous=True, context=r"(?:^|[^A-Za-z0-9_])f$",
    ),
    "inline-block": Mistake(
        "P192", "a block starts on the next line", "put the statement on its own line below, indented by 4 spaces",
        "move this to the next line",
        ("if x: print x\n", "if x:\n    print 1\nelif y: print 2\n", "if x:\n    print 1\nelse: print 2\n",
         "for x in xs: print x\n", "while x max 3: print x\n", "repeat 3: print 1\n", "def f(): return 1\n",
         "parallel: print 1\n", "agent w: model: m\n", "type T: x: int\n", 'chat a, b: "hi"\n'),
    ),
    "angle-generic": Mistake(
        "P193", "a generic type is written with brackets: `list[str]`", "write `list[str]` or `dict[str, int]`",
        "write `[`", ("type T:\n    x: list<str>\n", "input xs: list<str>\n", "x: dict<str, int> = {}\n"),
        exact=True,
    ),
    "model-id-unquoted": Mistake(
        "P194", "the model's name is a string", 'quote it: `model smart = openai("gpt-4o-mini")`', "quote the name",
        ("model smart = openai(gpt-4o)\n", "model smart = openai(gpt-4o-mini, temperature=0)\n"),
        exact=True, context=_line_starts("model"),
    ),
    "pipe-or": Mistake(
        "P185", "Parley writes `or`, not `||` or `|`", "write `a or b` (and `a and b`, not `&&`); "
        "`|` only separates the choices of a type or of a flow edge", "write `or`",
        ("x = a || b\n", "if a | b:\n    print 1\n", "x = 1 | 2\n", 'x = "a" | "b"\n'), exact=True,
    ),
}
