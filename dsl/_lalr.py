"""Parley's own parsing loop over the tables Lark makes: a valid script parses without Lark.

Lark builds and checks the grammar (LALR, strict: no conflicts, no terminal
collisions) and stays the parser of record for every input this loop
rejects: a rejected parse is run again by Lark, whose exceptions explain the
error (`dsl.parser`). What the loop runs is Lark's own decisions, read from
it once and kept in a cache file (plain data in `marshal`'s format, so
reading it imports nothing): the parse table, each state's lexer (its
terminals' patterns in Lark's order and its keyword callbacks) and each
rule's shaping (`?rule` inlining, `_rule` splicing, aliases). So a parse that
succeeds here returns what Lark's would; `tests/test_lalr.py` checks it on
every example and on hundreds of damaged scripts.

Why: Lark's import and the load of its cached grammar (re-making 141 lexers)
cost more than half of `parley check` on a small script, and its loop hashes
rule objects on every reduction. The loop here uses plain tables, compiles
patterns only as the script needs them (`_StateLexer`), and builds nodes directly.
"""

from __future__ import annotations

import hashlib
import importlib.util
import marshal
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from parley.dsl._cache import cache_folder
from parley.dsl._indent import Layout, LayoutError
from parley.dsl._tokens import Token
from parley.grammar import grammar_text

#: Bump when the cached tables' layout changes.
FORMAT = 2

#: One rule's reduction: (children, origin, name, single child passes through, which children splice in).
Rule = tuple[int, str, str, bool, "tuple[bool, ...] | None"]


class Rejected(Exception):
    """The loop cannot parse this text: Lark parses it again and explains why.

    `complete_before` is a line above which every statement parsed whole
    (`Layout.complete_before`): Lark's explaining parse need not read them.
    """

    def __init__(self, what: str, complete_before: int = 1) -> None:
        super().__init__(what)
        self.complete_before = complete_before


class _Unlexable(Exception):
    """No terminal of the parser's state matches at (`line`, `column`)."""

    def __init__(self, line: int, column: int) -> None:
        super().__init__(line, column)
        self.line = line
        self.column = column


class _Inline:
    """A `_rule`'s children, spliced into the rule that uses it (as Lark splices its trees)."""

    __slots__ = ("children",)

    def __init__(self, children: list[Any]) -> None:
        self.children = children


#: Tokens a state lexes one terminal at a time before its terminals are compiled into one pattern.
BUSY = 50

#: Each terminal's pattern compiled alone, shared by every state that has it.
_singles: dict[tuple[str, int], re.Pattern[str]] = {}


class _StateLexer:
    """One parser state's terminals: Lark's patterns for them, in Lark's order.

    Lark matches a state's terminals with one alternation `(?P<A>…)|(?P<B>…)|…`, whose
    first matching branch wins: trying the terminals one by one in the same order finds
    the same token. Compiling a state's alternation costs a couple of milliseconds, which
    a small script would pay for every state it reaches; so a state starts with the
    terminals alone (compiled once, shared) and compiles its alternation once busy.
    """

    __slots__ = ("terminals", "flags", "unless", "newline_types", "ignore_types", "combined", "_alone", "_uses")

    def __init__(
        self,
        terminals: list[tuple[str, str]],
        flags: int,
        unless: dict[str, dict[str, str]],
        newline_types: frozenset[str],
        ignore_types: frozenset[str],
    ) -> None:
        self.terminals = terminals
        self.flags = flags
        self.unless = unless
        self.newline_types = newline_types
        self.ignore_types = ignore_types
        self.combined: re.Pattern[str] | None = None
        self._alone: list[tuple[str, re.Pattern[str]]] | None = None
        self._uses = 0

    def match(self, text: str, position: int) -> tuple[str, str] | None:
        """(text, terminal) of the token at `position` while the state is not busy (then: `combined`)."""
        self._uses += 1
        if self._uses > BUSY:
            self.combined = re.compile(alternation(self.terminals), self.flags)
        alone = self._alone
        if alone is None:
            alone = self._alone = [(name, _single(pattern, self.flags)) for name, pattern in self.terminals]
        for name, pattern in alone:
            found = pattern.match(text, position)
            if found is not None:
                return found.group(), name
        return None


def alternation(terminals: list[tuple[str, str]]) -> str:
    """A state's terminals as one pattern, exactly as Lark's `Scanner` joins them."""
    return "|".join(f"(?P<{name}>{pattern})" for name, pattern in terminals)


def _single(pattern: str, flags: int) -> re.Pattern[str]:
    compiled = _singles.get((pattern, flags))
    if compiled is None:
        compiled = _singles[(pattern, flags)] = re.compile(pattern, flags)
    return compiled


class Tables:
    """Lark's parse table and lexers for the grammar, as plain data.

    `actions[state][symbol]` is the next state for a shift or a goto, and
    `~rule` (negative) for a reduction by `rules[rule]`.
    """

    def __init__(self, data: dict[str, Any]) -> None:
        self.actions: list[dict[str, int]] = data["actions"]
        self.rules: list[Rule] = data["rules"]
        self.start_states: dict[str, int] = data["start_states"]
        self.end_states: dict[str, int] = data["end_states"]
        lexers = [_StateLexer(*spec) for spec in data["lexers"]]
        self.lexer_of: list[_StateLexer] = [lexers[index] for index in data["lexer_of"]]
        self._passes: dict[tuple[int, int, str], int] = {}
        self._ends: dict[tuple[int, int, int], int] = {}

    def parse(self, text: str, start: str, build: Callable[[str, list[Any]], Any]) -> Any:
        """The value `build` makes for the `start` rule of `text`; `Rejected` if the text is not valid.

        Lark's LALR loop (`ParserState.feed_token`) with its shaping inlined:
        splice `_rule` children, pass a `?rule`'s single child through, else build.
        """
        actions = self.actions
        rules = self.rules
        passes = self._passes
        state_stack = [self.start_states[start]]
        value_stack: list[Any] = []
        layout = Layout()
        token: Token | None = None
        try:
            tokens = layout.process(self._lex(text, state_stack))
            for token in tokens:
                kind = token.type
                while True:
                    top = state_stack[-1]
                    action = actions[top].get(kind)
                    if action is None:
                        raise Rejected(kind, layout.complete_before(token.line or 1, token.column or 1))
                    if action >= 0:
                        state_stack.append(action)
                        value_stack.append(token)
                        break
                    size, _, _, single_passes, splices = rules[~action]
                    if size == 1 and single_passes and splices is None:
                        # `?sum: term` and the like: the value stays, only the state moves. A chain of
                        # them (expr → ternary → … → postfix) depends only on these three, so it is walked once.
                        key = (state_stack[-2], top, kind)
                        landing = passes.get(key)
                        if landing is None:
                            landing = passes[key] = self._pass_through(key)
                        state_stack[-1] = landing
                        continue
                    state_stack.append(_reduce(rules[~action], state_stack, value_stack, actions, build))
        except LayoutError as error:
            raise Rejected(error.kind, layout.complete_before(error.line, error.column)) from None
        except _Unlexable as error:
            raise Rejected("character", layout.complete_before(error.line, error.column)) from None
        end_state = self.end_states[start]
        while True:
            top = state_stack[-1]
            action = actions[top].get("$END")
            if action is None or action >= 0:
                at = (token.line or 1, token.column or 1) if token is not None else (1, 1)
                raise Rejected("$END", layout.complete_before(*at))
            size, _, _, single_passes, splices = rules[~action]
            if size == 1 and single_passes and splices is None and len(state_stack) > 1:
                ending = (state_stack[-2], top, end_state)  # where the chain stops depends on the start rule
                landing = self._ends.get(ending)
                if landing is None:
                    landing = self._ends[ending] = self._pass_through((state_stack[-2], top, "$END"), stop=end_state)
                state_stack[-1] = landing
            else:
                state_stack.append(_reduce(rules[~action], state_stack, value_stack, actions, build))
            if state_stack[-1] == end_state:
                return value_stack[-1]

    def _pass_through(self, key: tuple[int, int, str], stop: int = -1) -> int:
        """Where a chain of one-child `?rule` reductions above state `below` lands, before `kind`
        (or at `stop`, the state that ends the parse)."""
        below, top, kind = key
        while True:
            action = self.actions[top].get(kind)
            if action is None or action >= 0 or top == stop:
                return top
            size, origin, _, single_passes, splices = self.rules[~action]
            if not (size == 1 and single_passes and splices is None):
                return top
            top = self.actions[below][origin]

    def _lex(self, text: str, state_stack: list[int]) -> Iterator[Token]:
        """Lark's contextual lexer: each token is matched with the patterns of the parser's current state."""
        lexer_of = self.lexer_of
        position = 0
        line = 1
        line_start = 0
        end = len(text)
        while position < end:
            lexer = lexer_of[state_stack[-1]]
            combined = lexer.combined
            if combined is not None:
                match = combined.match(text, position)
                if match is None:
                    raise _Unlexable(line, position - line_start + 1)
                value = match.group()
                kind = match.lastgroup
                assert kind is not None
            else:
                found = lexer.match(text, position)
                if found is None:
                    raise _Unlexable(line, position - line_start + 1)
                value, kind = found
            start, start_line, start_column = position, line, position - line_start + 1
            if kind in lexer.newline_types:
                newlines = value.count("\n")
                if newlines:
                    line += newlines
                    line_start = position + value.rindex("\n") + 1
            position += len(value)
            if kind in lexer.ignore_types:
                continue
            keywords = lexer.unless.get(kind)
            if keywords is not None:
                kind = keywords.get(value, kind)
            yield Token(kind, value, start, start_line, start_column, line, position - line_start + 1, position)


def _reduce(
    rule: Rule, state_stack: list[int], value_stack: list[Any], actions: list[dict[str, int]],
    build: Callable[[str, list[Any]], Any],
) -> int:
    """Reduce by `rule`: pop its children, push what they make; returns the state to go to."""
    size, origin, name, single_passes, splices = rule
    if size:
        children = value_stack[-size:]
        del value_stack[-size:]
        del state_stack[-size:]
    else:
        children = []
    if splices is not None:
        children = _spliced(children, splices)
    if single_passes and len(children) == 1:
        value = children[0]
    elif name[0] == "_":
        value = _Inline(children)
    else:
        value = build(name, children)
    value_stack.append(value)
    return actions[state_stack[-1]][origin]


def _spliced(children: list[Any], splices: tuple[bool, ...]) -> list[Any]:
    """The children with each `_rule`'s own children in its place.

    A leading `_rule`'s list is extended in place, as Lark does: the repetition
    `(…)*` is a left-recursive rule, so copying it would cost the square of its length.
    """
    spliced: list[Any] = []
    for child, splice in zip(children, splices):
        if not splice:
            spliced.append(child)
        elif spliced:
            spliced += child.children
        else:
            spliced = child.children
    return spliced


_tables: Tables | None = None


def tables() -> Tables:
    """The tables, from the cache file when it matches the grammar and Lark, else made from Lark (and cached)."""
    global _tables
    if _tables is None:
        cache = _cache_file()
        data = _read(cache) if cache is not None else None
        if data is not None:
            try:
                _tables = Tables(data)
            except (KeyError, IndexError, TypeError, ValueError):  # a damaged cache file: made again below
                _tables = None
        if _tables is None:
            data = _from_lark()
            if cache is not None:
                _write(cache, data)
            _tables = Tables(data)
    return _tables


def _read(cache: Path) -> dict[str, Any] | None:
    """The tables kept in `cache`, or None when it is missing, damaged or of another layout."""
    try:
        data = marshal.loads(cache.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def _write(cache: Path, data: dict[str, Any]) -> None:
    """Atomically: a process reading the cache never sees half a file."""
    import tempfile

    try:
        with tempfile.NamedTemporaryFile(dir=cache.parent, prefix=".tables-", delete=False) as handle:
            handle.write(marshal.dumps(data))
        os.replace(handle.name, cache)
    except (OSError, ValueError):
        pass


def _cache_file() -> Path | None:
    """Next to Lark's grammar cache, keyed by the grammar and by the installed Lark (found, not imported)."""
    folder = cache_folder()
    spec = importlib.util.find_spec("lark")
    if folder is None or spec is None or spec.origin is None:
        return None
    try:
        stat = os.stat(spec.origin)
    except OSError:
        return None
    # marshal (plain data only, no imports when read) writes per Python version.
    key = f"{FORMAT}|{sys.implementation.cache_tag}|{grammar_text()}|{spec.origin}|{stat.st_size}|{stat.st_mtime_ns}"
    return folder / f"tables-{hashlib.sha256(key.encode()).hexdigest()[:16]}.marshal"


def _from_lark() -> dict[str, Any]:
    """Read Lark's decisions for the grammar out of its parser (which checks the grammar)."""
    from lark.lexer import PatternStr, UnlessCallback
    from lark.parse_tree_builder import maybe_create_child_filter
    from lark.parsers.lalr_analysis import Shift

    from parley.dsl._lark import parser

    lark = parser()
    assert not lark.options.maybe_placeholders and lark.options.keep_all_tokens
    table = lark.parser.parser.parser.parse_table
    contextual = lark.parser.lexer.lexer
    rule_index: dict[int, int] = {}
    rules: list[Rule] = []
    actions: list[dict[str, int]] = [{} for _ in range(max(table.states) + 1)]
    for state, row in table.states.items():
        for symbol, (action, argument) in row.items():
            if action is Shift:
                actions[state][str(symbol)] = argument
                continue
            if id(argument) not in rule_index:
                rule_index[id(argument)] = len(rules)
                rules.append(_rule(argument, maybe_create_child_filter))
            actions[state][str(symbol)] = ~rule_index[id(argument)]
    lexer_index: dict[int, int] = {}
    lexers: list[tuple[Any, ...]] = []
    lexer_of = [0] * len(actions)
    for state, basic in contextual.lexers.items():
        if id(basic) not in lexer_index:
            lexer_index[id(basic)] = len(lexers)
            lexers.append(_lexer(basic, PatternStr, UnlessCallback))
        lexer_of[state] = lexer_index[id(basic)]
    return {
        "format": FORMAT,
        "actions": actions,
        "rules": rules,
        "start_states": {str(name): state for name, state in table.start_states.items()},
        "end_states": {str(name): state for name, state in table.end_states.items()},
        "lexers": lexers,
        "lexer_of": lexer_of,
    }


def _rule(rule: Any, child_filter: Callable[..., Any]) -> Rule:
    """How Lark's tree builder shapes a reduction by `rule` (`ParseTreeBuilder._init_builders`)."""
    options = rule.options
    assert options.template_source is None
    made = child_filter(rule.expansion, options.keep_all_tokens, False, None)
    splices: tuple[bool, ...] | None = None
    if made is not None:
        included = made.args[0]
        assert [index for index, _ in included] == list(range(len(rule.expansion))), "every child is kept"
        splices = tuple(bool(splice) for _, splice in included)
    name = str(rule.alias or rule.origin.name)  # plain text: a Lark token would make the cache import Lark
    return (len(rule.expansion), str(rule.origin.name), name, bool(options.expand1 and not rule.alias), splices)


def _lexer(basic: Any, pattern_str: type, unless_callback: type) -> tuple[Any, ...]:
    """One of Lark's per-state lexers as data: patterns, keyword callbacks, newline and ignored types."""
    scanner = basic.scanner
    assert basic.re is re, "Lark runs the standard `re` module"
    unless: dict[str, dict[str, str]] = {}
    for kind, callback in basic.callback.items():
        assert isinstance(callback, unless_callback) and kind not in basic.ignore_types
        keywords = {}
        for terminal in callback.scanner.terminals:
            assert isinstance(terminal.pattern, pattern_str) and not terminal.pattern.flags
            keywords[str(terminal.pattern.value)] = str(terminal.name)
        unless[str(kind)] = keywords
    terminals = [(str(terminal.name), str(terminal.pattern.to_regexp())) for terminal in scanner.terminals]
    [combined] = scanner._mres  # one alternation (Lark splits only past 100 terminals)
    assert combined.pattern == alternation(terminals), "the terminals, joined as Lark joins them"
    return (terminals, int(combined.flags), unless, frozenset(map(str, basic.newline_types)),
            frozenset(map(str, basic.ignore_types)))
