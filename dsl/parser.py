"""Text → syntax tree: decoding, size and layout checks, parsing with recovery, tree building.

`parse` returns a `Module` or raises `ScriptError` carrying every diagnostic
found; `parse_source` returns both, for tools that also want warnings.
Nothing from Lark escapes this module: its trees and exceptions stop here.
"""

from __future__ import annotations

import os
import re
from typing import Any

import attrs
from parley.dsl import nodes as n
from parley.dsl._build import DepthGuard, ExprParser, TreeBuilder
from parley.dsl._indent import LayoutError
from parley.dsl._lalr import Rejected, tables
from parley.dsl._tokens import start_of
from parley.dsl.caps import cap
from parley.dsl.collector import collector_paused
from parley.dsl.diagnostics import Diagnostic, Severity
from parley.dsl.errors import InternalError, ScriptError
from parley.dsl.source import Source, Span

#: Scripts are small (the largest example is 2 kB); past this size a file is almost
#: certainly not a script, and it is refused at once instead of parsed for seconds.
MAX_SOURCE_BYTES = 1_000_000
#: After this many syntax errors the rest of the file is not worth reading.
MAX_SYNTAX_ERRORS = 20

_INDENTED = re.compile(r"[ \t]+")


@attrs.frozen
class ParseResult:
    """The outcome of parsing one file: the tree (None when there were errors) and all diagnostics."""

    source: Source
    module: n.Module | None
    diagnostics: tuple[Diagnostic, ...]

    @property
    def ok(self) -> bool:
        return self.module is not None and not any(d.is_error for d in self.diagnostics)


def parse(text: str | bytes, filename: str = "<script>") -> n.Module:
    """Parse a script; raise `ScriptError` (with rendered diagnostics) if it has errors."""
    result = parse_source(text, filename)
    if not result.ok or result.module is None:
        raise ScriptError(result.diagnostics, {filename: result.source})
    return result.module


def parse_source(text: str | bytes, filename: str = "<script>") -> ParseResult:
    """Parse a script and return its tree with every diagnostic (errors and warnings)."""
    decoded = _decode(text, filename)
    if isinstance(decoded, ParseResult):
        return decoded
    source = decoded
    if _first_code_line(list(source.lines)) is None:
        warning = Diagnostic(
            "P003", "the script is empty" if not source.text.strip() else "the script has no statements", source.point(1, 1), severity=Severity.WARNING,
            label="nothing here", help="write a statement, e.g. `agent writer:` … or `print \"hello\"`",
        )
        return ParseResult(source, n.Module(body=(), span=source.point(1, 1)), (warning,))
    try:
        with collector_paused():
            return _parse(source)
    except RecursionError:
        span = source.point(1, 1)
        return ParseResult(source, None, (Diagnostic("P106", "the script is nested too deeply", span),))
    except _ParserBug as bug:  # a Lark failure we did not foresee is our bug
        raise InternalError(f"parser failed on {filename}: {bug.error!r}") from bug.error
    except AssertionError as error:
        raise InternalError(f"parser failed on {filename}: {error!r}") from error


def parse_path(path: str | os.PathLike[str], display: str | None = None) -> ParseResult:
    """Read and parse a script file; `display` is the name shown in diagnostics (default: the path)."""
    name = display if display is not None else os.fspath(path)
    try:
        size = os.stat(path).st_size
        with open(path, "rb") as handle:
            data = handle.read(MAX_SOURCE_BYTES + 1)
    except OSError as error:  # the file is there but cannot be read: the user's to fix, not a crash
        return _fail(Source(name, ""), Diagnostic(
            "P005", f"cannot read the file: {error.strerror or type(error).__name__}", Span(name, 1, 1, 1, 1),
            label="", help="check that the path names a readable script file",
        ))
    if size > MAX_SOURCE_BYTES or len(data) > MAX_SOURCE_BYTES:
        return _too_large(name, max(size, len(data)))
    return parse_source(data, name)


def parse_expression(text: str, filename: str = "<expression>") -> n.Expr:
    """Parse a single expression (as used by the REPL and by interpolation)."""
    source = Source(filename, text)
    diagnostics: list[Diagnostic] = []
    expr = _parse_expr_at(source, diagnostics, text, 1, 1)
    if expr is None or diagnostics:
        raise ScriptError(diagnostics, {filename: source})
    return expr


def _decode(text: str | bytes, filename: str) -> Source | ParseResult:
    size = len(text.encode("utf-8", "surrogatepass")) if isinstance(text, str) else len(text)
    if size > MAX_SOURCE_BYTES:
        return _too_large(filename, size)
    if isinstance(text, bytes):
        decoded = _decode_utf8(text, filename)
        if isinstance(decoded, ParseResult):
            return decoded
        text = decoded
    surrogate = _SURROGATE.search(text)
    if surrogate is not None:  # only text built in Python has these: no file decodes to one
        return _lone_surrogate(text, surrogate.start(), filename)
    if "\0" in text:
        line = _line_of(text[: text.index("\0")])
        return _fail(Source(filename, ""), Diagnostic(
            "P002", "this looks like a binary file, not a script", Span(filename, line, 1, line, 1),
            help="Parley scripts are UTF-8 text files (usually named *.agent)",
        ))
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    return Source(filename, text)


def _decode_utf8(data: bytes, filename: str) -> str | ParseResult:
    """The file's bytes as text, or the failure that says why they are not a script."""
    if b"\0" in data:
        line = _line_of(data[: data.index(b"\0")].decode("utf-8", "replace"))
        return _fail(Source(filename, ""), Diagnostic(
            "P002", "this looks like a binary file, not a script", Span(filename, line, 1, line, 1),
            label="", help="Parley scripts are UTF-8 text files (usually named *.agent)",
        ))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        good = data[: error.start].decode("utf-8").removeprefix("\ufeff")
        good = good.replace("\r\n", "\n").replace("\r", "\n")
        line = good.count("\n") + 1
        column = len(good) - (good.rfind("\n") + 1) + 1
        rest = data[error.start:].decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")
        source = Source(filename, good + rest)
        return _fail(source, Diagnostic(
            "P001", f"the file is not valid UTF-8 (byte 0x{data[error.start]:02x})",
            source.point(line, column), label="invalid byte", help="save the file as UTF-8",
        ))


_SURROGATE = re.compile("[\ud800-\udfff]")


def _lone_surrogate(text: str, at: int, filename: str) -> ParseResult:
    """Text holding a lone surrogate (U+D800–U+DFFF) is not Unicode text: no script can be written that way."""
    shown = _SURROGATE.sub("\ufffd", text).removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    before = text[:at].removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    source = Source(filename, shown)
    return _fail(source, Diagnostic(
        "P001", f"the text is not valid Unicode (a lone surrogate, U+{ord(text[at]):04X})", source.point(line, column),
        label="not a character", help="pass the script as UTF-8 bytes, or as text without surrogate code points",
    ))


def _line_of(before: str) -> int:
    """The line number after `before`, counting `\r\n`, `\r` and `\n` as line ends (as editors do)."""
    return before.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n").count("\n") + 1


def _too_large(filename: str, size: int) -> ParseResult:
    return _fail(Source(filename, ""), Diagnostic(
        "P004", f"the file is too large for a script ({size / 1_000_000:.1f} MB; the limit is 1 MB)",
        Span(filename, 1, 1, 1, 1), help="is this the right file? Split big scripts with `import`",
    ))


def _fail(source: Source, diagnostic: Diagnostic) -> ParseResult:
    return ParseResult(source, None, (diagnostic,))


def _parse(source: Source) -> ParseResult:
    diagnostics: list[Diagnostic] = []
    lines = list(source.lines)
    first = _first_code_line(lines)
    if first is not None and _INDENTED.match(lines[first]):
        indent = len(lines[first]) - len(lines[first].lstrip())
        diagnostics.append(Diagnostic(
            "P102", "unexpected indentation", source.point(first + 1, 1, indent), label="unexpected indent",
            help="the first statement of a script starts at column 1",
        ))
        lines[first] = lines[first].lstrip()
    module = None
    seen: set[tuple[int, int]] = set()
    skipped = 0
    while len(diagnostics) < MAX_SYNTAX_ERRORS:
        # The nodes are built during the parse; what building finds counts only if the parse succeeds.
        found: list[Diagnostic] = []
        guard = DepthGuard()
        builder = TreeBuilder(source.name, found, _expr_parser(source, found, guard), guard=guard)
        try:
            module = tables().parse("\n".join(lines) + "\n", "start", builder.build)[0]
            break
        except Rejected as rejected:
            # Lark explains the error, reading only from the statement that failed on.
            skipped = _skip_parsed(lines, rejected.complete_before, skipped)
            error = _explain("\n".join(lines) + "\n")
            from parley.dsl._lark import postlexer
            from parley.dsl._syntax_errors import diagnose

            parsed = postlexer().complete_before(getattr(error, "line", 1) or 1, getattr(error, "column", 1) or 1)
            diagnostic = diagnose(error, source)
            skipped = _skip_parsed(lines, parsed, skipped)
            key = (diagnostic.span.line, diagnostic.span.column)
            if key in seen:
                break
            seen.add(key)
            diagnostics.append(diagnostic)
            if not _mask(lines, diagnostic, error):
                break
    if len(diagnostics) >= MAX_SYNTAX_ERRORS:
        diagnostics.append(Diagnostic(
            "P199", f"too many syntax errors; stopped after {MAX_SYNTAX_ERRORS}", diagnostics[-1].span,
            severity=Severity.WARNING, help="fix the errors above and check again",
        ))
    if diagnostics or module is None:
        return ParseResult(source, None, tuple(diagnostics))
    diagnostics.extend(found)
    if any(d.is_error for d in diagnostics):
        return ParseResult(source, None, _capped(diagnostics))
    return ParseResult(source, module, tuple(diagnostics))


def _capped(diagnostics: list[Diagnostic]) -> tuple[Diagnostic, ...]:
    """In file order, at most MAX_SYNTAX_ERRORS (and a few a line), then a note counting the rest."""
    return cap(sorted(diagnostics, key=lambda d: (d.span.line, d.span.column)), most=MAX_SYNTAX_ERRORS)


def _skip_parsed(lines: list[str], line: int, skipped: int) -> int:
    """Blank the lines above `line` (statements parsed whole) so the next try does not parse them again.

    Recovery re-parses after every error; without this, errors near the end of a
    large file would cost a whole parse each. The tree of a script with errors is
    never built, so only the parser's state matters: one short statement keeps
    it where the lost ones left it (after some statement, not at the start).
    `skipped` lines are blank already; returns the new count.
    """
    if line - 1 <= max(skipped, 1):
        return skipped
    lines[0] = "x = 0"
    for index in range(max(skipped, 1), line - 1):
        lines[index] = ""
    return line - 1


def _first_code_line(lines: list[str]) -> int | None:
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return index
    return None


def _mask(lines: list[str], diagnostic: Diagnostic, error: Exception) -> bool:
    """Blank out the failing statement so parsing can resume; False when recovery is hopeless.

    The failing line goes, with the block it heads; when that empties an
    enclosing block, its header goes too, so masking never creates new errors.
    """
    if diagnostic.code in ("P103", "P106", "P111", "P004"):
        return False
    token = getattr(error, "token", None)  # only some of Lark's errors have the token they stopped at
    if token is not None and token.type == "$END":
        return False
    index = diagnostic.span.line - 1
    if not 0 <= index < len(lines):
        return False
    last = index
    from parley.dsl._lark import postlexer

    brackets = postlexer().brackets
    if brackets:
        # The statement spans lines inside brackets: blank it from its first line,
        # and the continuation lines (deeper, or starting with a closing bracket).
        bracket_line, _ = start_of(brackets[0])
        index = min(index, bracket_line - 1)
    while True:
        indent = _indent_of(lines[index])
        end = max(index, last) + 1
        while end < len(lines) and (
            not lines[end].strip()
            or _indent_of(lines[end]) > indent
            or (brackets and lines[end].lstrip()[:1] in ")]}")
            or (diagnostic.code == "P102" and _indent_of(lines[end]) >= indent)
        ):
            end += 1
        header = _header_of(lines, index, indent)
        for i in range(index, end):
            lines[i] = ""
        if header is not None and _CONVERSATION_HEADER.search(lines[header]) and not _block_has_code(
            lines[: index + 1], header
        ):
            # The opening message went: keep the block valid with an empty one.
            lines[index] = " " * indent + '""'
            return True
        if header is None or _block_has_code(lines, header):
            return True
        index = last = header
        brackets = []


_CONVERSATION_HEADER = re.compile(r"^\s*(?:\S.*=\s*)?(?:chat|group)\b.*:\s*(?:#.*)?$")


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" \t")) if line.strip() else 0


def _header_of(lines: list[str], index: int, indent: int) -> int | None:
    """The nearest line above `index` indented less than `indent` (the block's header)."""
    if indent == 0:
        return None
    for i in range(index - 1, -1, -1):
        if lines[i].strip() and not lines[i].lstrip().startswith("#") and _indent_of(lines[i]) < indent:
            return i
    return None


def _block_has_code(lines: list[str], header: int) -> bool:
    indent = _indent_of(lines[header])
    for line in lines[header + 1:]:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        return _indent_of(line) > indent
    return False


def _expr_parser(source: Source, diagnostics: list[Diagnostic], guard: DepthGuard) -> ExprParser:
    def parse_expr(text: str, line: int, column: int) -> n.Expr | None:
        return _parse_expr_at(source, diagnostics, text, line, column, guard)

    return parse_expr


def _parse_expr_at(
    source: Source, diagnostics: list[Diagnostic], text: str, line: int, column: int,
    guard: DepthGuard | None = None,
) -> n.Expr | None:
    """Parse `text` as one expression placed at `line`:`column` of `source`."""
    guard = guard if guard is not None else DepthGuard()
    found: list[Diagnostic] = []
    builder = TreeBuilder(source.name, found, _expr_parser(source, found, guard), line, column, guard)
    try:
        expr = tables().parse(text, "expr", builder.build)[0]
    except Rejected:  # a layout error is a rejection too
        _explain_expr(source, diagnostics, text, line, column)
        return None
    diagnostics.extend(found)
    return expr  # type: ignore[no-any-return]


def _explain_expr(source: Source, diagnostics: list[Diagnostic], text: str, line: int, column: int) -> None:
    """An expression Parley's loop rejected, parsed again by Lark for the error it explains."""
    from lark import UnexpectedInput

    from parley.dsl._lark import building, parser, postlexer
    from parley.dsl._syntax_errors import diagnose

    # It may be parsed while the file around it is: the file's layout must survive, and explain its errors.
    with postlexer().nested():
        try:
            with building(None):
                parser().parse(text, start="expr")
        except LayoutError as error:
            where = source.point(line + error.line - 1, error.column + (column - 1 if error.line == 1 else 0))
            diagnostics.append(attrs.evolve(diagnose(error, Source(source.name, text)), span=where))
            return
        except UnexpectedInput as error:
            diagnostics.append(_interpolation_error(error, source, text, line, column))
            return
    raise _ParserBug(AssertionError(f"Parley's parsing loop rejected an expression Lark accepts: {text!r}"))


class _ParserBug(Exception):
    """Lark failed in a way no script should make it fail, or accepted what Parley's loop rejected."""

    def __init__(self, error: Exception) -> None:
        super().__init__(error)
        self.error = error


def _explain(text: str) -> Exception:
    """The exception with which Lark (and the post-lexer) reject a script Parley's loop rejected.

    Lark parses without building nodes: a parse that fails has no tree.
    """
    from lark import UnexpectedInput
    from lark.exceptions import LarkError

    from parley.dsl._lark import building, parser

    try:
        with building(None):
            parser().parse(text, start="start")
    except (UnexpectedInput, LayoutError) as error:
        return error
    except LarkError as error:
        raise _ParserBug(error) from error
    raise _ParserBug(AssertionError("Parley's parsing loop rejected a script Lark accepts"))


def _interpolation_error(error: Exception, source: Source, text: str, line: int, column: int) -> Diagnostic:
    from parley.dsl._syntax_errors import describe_token

    err_line = getattr(error, "line", 1) or 1
    err_column = getattr(error, "column", 1) or 1
    token = getattr(error, "token", None)
    if token is not None and token.type == "$END":
        err_line, err_column = 1, len(text) + 1
    at_line = line + err_line - 1
    at_column = err_column + (column - 1 if err_line == 1 else 0)
    if token is not None and token.type == "$END":
        message = "the expression inside `{…}` is incomplete"
    elif token is not None:
        message = f"invalid expression inside `{{…}}`: unexpected {describe_token(token)}"
    else:
        message = f"invalid expression inside `{{…}}`: unexpected `{getattr(error, 'char', '?')}`"
    return Diagnostic(
        "P125", message, source.point(at_line, at_column, _token_width(token)),
        label="here", help="an interpolation holds one expression, like {topic} or {review.last}; "
        "write `{{` and `}}` for literal braces",
    )


def _token_width(token: object) -> int:
    if token is None or getattr(token, "type", "") == "$END":
        return 1
    return max(len(str(token).split("\n", 1)[0]), 1)
