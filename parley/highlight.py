"""Syntax highlighting of `.agent` code: a Pygments lexer, registered as the `parley` lexer.

Pygments finds it through the `pygments.lexers` entry point, so `rich`,
Sphinx/MkDocs and `pygmentize -l parley` highlight Parley code; the REPL's
prompt uses it too. It follows the grammar's tokens: the prose after
`@agent` is a message (with `{…}` interpolations), as are strings;
durations (`30s`) and money (`$0.50`) are numbers. Highlighting must never
fail on a half-typed script, so nothing in it is an error token.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pygments.lexer import RegexLexer, bygroups, include, words
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Text,
    Whitespace,
)

from parley.dsl.keywords import RESERVED, SOFT

__all__ = ["ParleyLexer"]


def _interpolating(quote: str, token: Any, one_line: bool = False) -> list[Any]:
    """The rules inside a string closed by `quote` whose `{…}` are interpolations (`{{`, `}}` escape them);
    a `one_line` string left unclosed ends with its line."""
    mark = quote[0]
    rules: list[Any] = [
        (quote, token, "#pop"),
        (r"\\.", String.Escape),
        (r"\{\{|\}\}", String.Escape),
        (r"\{", String.Interpol, "interpolation"),
    ]
    if one_line:
        return [*rules, (r"(?=\n)", token, "#pop"), (rf"[^{mark}\\{{}}\n]+|\}}|\\", token)]
    return [*rules, (rf"[^{mark}\\{{}}]+|{mark}|\}}|\\", token)]


_DECLARING = ("agent", "model", "type", "def", "input", "output", "budget", "default")
_CONSTANTS = ("true", "false", "none")
_WORDS = ("and", "or", "not", "in", "is")
_NAMESPACE = ("import", "from")
_TYPES = ("str", "int", "float", "bool", "any", "list", "dict", "thread")
_BUILTINS = (
    "len", "json", "parse_json", "join", "split", "lower", "upper", "strip", "replace", "contains", "startswith",
    "endswith", "range", "min", "max", "sum", "sorted", "round", "abs", "keys", "values", "items", "format",
)
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"


class ParleyLexer(RegexLexer):
    """Parley (`.agent`): conversations between LLM agents, humans and tools."""

    name = "Parley"
    aliases: ClassVar[list[str]] = ["parley", "agent"]
    filenames: ClassVar[list[str]] = ["*.agent"]
    mimetypes: ClassVar[list[str]] = ["text/x-parley"]
    url = "https://github.com/parley-lang/parley"

    tokens: ClassVar[dict[str, list[Any]]] = {
        "root": [
            (r"\n", Whitespace),
            (r"^([ \t]*)(\"\"\")", bygroups(Whitespace, String.Doc), "docstring"),
            (r"^([ \t]*)(''')", bygroups(Whitespace, String.Doc), "docstring-single"),
            include("code"),
        ],
        "code": [
            (r"[ \t]+", Whitespace),
            (r"\\\n", Text),
            (r"#.*$", Comment.Single),
            # `@agent` then prose to the end of the line; `@agent?` then a question (a string).
            (r"(@" + _NAME + r"\?)", Name.Decorator),
            (r"(@" + _NAME + r")([ \t]+)(?=[^ \t\n\"'#])", bygroups(Name.Decorator, Whitespace), "prose"),
            (r"@" + _NAME, Name.Decorator),
            (r"[rR]\"\"\"", String.Double, "raw-triple-double"),
            (r"[rR]'''", String.Single, "raw-triple-single"),
            (r'[rR]"[^"\n]*"?', String.Double),
            (r"[rR]'[^'\n]*'?", String.Single),
            (r'"""', String.Double, "triple-double"),
            (r"'''", String.Single, "triple-single"),
            (r'"', String.Double, "double"),
            (r"'", String.Single, "single"),
            (r"\$[0-9]+(?:\.[0-9]+)?", Number.Float),
            (r"[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h)\b", Number.Integer),
            (r"[0-9]+\.[0-9]+(?:[eE][+-]?[0-9]+)?", Number.Float),
            (r"[0-9](?:_?[0-9])*", Number.Integer),
            (r"(agent|type)([ \t]+)(" + _NAME + r")", bygroups(Keyword.Declaration, Whitespace, Name.Class)),
            (r"(def)([ \t]+)(" + _NAME + r")", bygroups(Keyword.Declaration, Whitespace, Name.Function)),
            (r"(model|input)([ \t]+)(" + _NAME + r")", bygroups(Keyword.Declaration, Whitespace, Name.Variable)),
            (words(_CONSTANTS, suffix=r"\b"), Keyword.Constant),
            (words(_WORDS, suffix=r"\b"), Operator.Word),
            (words(_NAMESPACE, suffix=r"\b"), Keyword.Namespace),
            (words(_DECLARING, suffix=r"\b"), Keyword.Declaration),
            (words(tuple(sorted(RESERVED - set(_DECLARING) - set(_CONSTANTS) - set(_WORDS) - set(_NAMESPACE))),
                   suffix=r"\b"), Keyword),
            (words(tuple(sorted(SOFT - {"max", "time", "cost", "tokens", "turns"})), suffix=r"\b"), Keyword.Pseudo),
            (words(_TYPES, suffix=r"\b"), Keyword.Type),
            (words(_BUILTINS, suffix=r"\b(?=\s*\()"), Name.Builtin),
            (_NAME, Name),
            (r"->|==|!=|<=|>=|\+=|-=|\*=|/=|//|\*\*|[-+*/%<>=|!]", Operator),
            (r"[()\[\]{}:,.;?]", Punctuation),
            (r".", Text),
        ],
        "prose": [
            (r"[ \t]{2,}(?=#)", Whitespace, ("#pop", "comment")),
            (r"\{\{|\}\}", String.Escape),
            (r"\{", String.Interpol, "interpolation"),
            (r"(?=\n)", Text, "#pop"),
            (r"[^{}\n \t]+|[ \t]|\}", String.Other),
        ],
        "comment": [
            (r"#.*$", Comment.Single, "#pop"),
        ],
        "interpolation": [
            (r"\}", String.Interpol, "#pop"),
            (r"\{", Punctuation, "interpolation-braces"),
            (r"\n", Whitespace),
            include("code"),
        ],
        "interpolation-braces": [
            (r"\}", Punctuation, "#pop"),
            (r"\{", Punctuation, "#push"),
            (r"\n", Whitespace),
            include("code"),
        ],
        "docstring": _interpolating('"""', String.Doc),
        "docstring-single": _interpolating("'''", String.Doc),
        "triple-double": _interpolating('"""', String.Double),
        "triple-single": _interpolating("'''", String.Single),
        "raw-triple-double": [(r'"""', String.Double, "#pop"), (r'[^"]+|"', String.Double)],
        "raw-triple-single": [(r"'''", String.Single, "#pop"), (r"[^']+|'", String.Single)],
        "double": _interpolating('"', String.Double, one_line=True),
        "single": _interpolating("'", String.Single, one_line=True),
    }

    def analyse_text(text: str) -> float:  # type: ignore[override]  # Pygments calls it on the class
        """How likely `text` is a Parley script: `agent NAME:` and `@agent` prose are telling."""
        import re

        score = 0.0
        if re.search(r"^agent\s+\w+(\s+is\s+\w+)?:\s*$", text, re.MULTILINE):
            score += 0.4
        if re.search(r"^\w+\s*=\s*@\w+\s", text, re.MULTILINE):
            score += 0.3
        return min(score, 1.0)


def fragments(text: str) -> list[tuple[str, str]]:
    """`text` as (kind, text) pieces for a terminal: kind is `keyword`, `string`, `comment`, `agent`, `number`
    or "" (names, operators, prose), adjacent pieces of one kind merged."""
    out: list[tuple[str, str]] = []
    for token, value in _LEXER.get_tokens(text):
        kind = _kind(token)
        if out and out[-1][0] == kind:
            out[-1] = (kind, out[-1][1] + value)
        elif value:
            out.append((kind, value))
    return out


def _kind(token: object) -> str:
    if token in Name.Decorator:
        return "agent"
    if token in Keyword.Type:
        return ""
    if token in Keyword or token in Operator.Word:
        return "keyword"
    if token in String.Other:
        return ""  # prose: the message itself stays plain
    if token in String:
        return "string"
    if token in Comment:
        return "comment"
    if token in Number:
        return "number"
    return ""


_LEXER = ParleyLexer(stripnl=False, ensurenl=False)
