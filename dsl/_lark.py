"""The one Lark parser instance: LALR, contextual lexer, strict, cached on disk."""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path
from typing import Any

import lark
from lark import Lark

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
    }
    cache = _cache_file(text)
    if cache is not None:
        try:
            return Lark(text, cache=str(cache), **options)
        except OSError:
            pass
    return Lark(text, **options)


def postlexer() -> ParleyIndenter:
    """The indenter of the shared parser, whose state explains the last error (open brackets)."""
    postlex = parser().options.postlex
    assert isinstance(postlex, ParleyIndenter)
    return postlex


def _cache_file(text: str) -> Path | None:
    """A per-user cache file keyed by grammar and Lark version (Lark re-checks the hash inside)."""
    if os.environ.get("PARLEY_NO_GRAMMAR_CACHE"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    folder = Path(base) / "parley"
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return None
    if not os.access(folder, os.W_OK):
        return None
    return folder / f"grammar-{digest}-lark{lark.__version__}.pickle"
