"""The one Lark parser instance: LALR, contextual lexer, strict, cached on disk; it builds trees or nodes.

It makes the tables Parley's own loop runs (`dsl._lalr`), explains the scripts that loop
rejects, and gives the formatter its trees. Nodes are built through it only by the tests
that hold the loop to Lark's results.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import lark
from lark import Lark, Tree

from parley.dsl._cache import cache_folder
from parley.dsl._indent import ParleyIndenter
from parley.grammar import grammar_text


@functools.cache
def parser() -> Lark:
    """Build (or load from the cache) the parser; `strict=True` rejects any grammar conflict."""
    text = grammar_text()
    options: dict[str, Any] = {
        "parser": "lalr",
        "lexer": "contextual",
        "postlex": ParleyIndenter(),
        "strict": True,
        # Every token is kept and positions are computed by the tree builder from
        # them: cheaper than Lark's position propagation, which runs on every reduction.
        "keep_all_tokens": True,
        "propagate_positions": False,
        "maybe_placeholders": False,
        "start": ["start", "expr"],
        "tree_class": _node,
    }
    cache = _cache_file(text)
    if cache is not None:
        try:
            return Lark(text, cache=str(cache), **options)
        except OSError:
            pass
    return Lark(text, **options)


class _Active(threading.local):
    build: Callable[[str, list[Any]], Any] | None = None


_active = _Active()


class _Nodes:
    """What Lark makes of each rule it reduces (its `tree_class`): a parse tree node, or inside
    `building`, the node built.

    Building while parsing skips the parse tree and the walk over it. Rules
    named `_…` stay trees: Lark splices their children into the rule that uses them.
    """

    def __call__(self, data: str, children: list[Any]) -> Any:
        build = _active.build
        if build is None or data[0] == "_":
            return Tree(data, children)
        return build(data, children)

    def __repr__(self) -> str:
        return "parley.dsl._lark._Nodes"  # Lark keys its cache on the options' text: no address in it


_node = _Nodes()


@contextlib.contextmanager
def building(build: Callable[[str, list[Any]], Any] | None) -> Iterator[None]:
    """Parses in this block (on this thread) return `build(rule, children)` for each rule; None: trees."""
    outer = _active.build
    _active.build = build
    try:
        yield
    finally:
        _active.build = outer


def postlexer() -> ParleyIndenter:
    """The indenter of the shared parser, whose state explains the last error (open brackets)."""
    postlex = parser().options.postlex
    assert isinstance(postlex, ParleyIndenter)
    return postlex


def _cache_file(text: str) -> Path | None:
    """A per-user cache file keyed by grammar and Lark version (Lark re-checks the hash inside)."""
    folder = cache_folder()
    if folder is None:
        return None
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return folder / f"grammar-{digest}-lark{lark.__version__}.pickle"
