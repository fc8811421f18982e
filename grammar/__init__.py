"""The Parley grammar (`parley.lark`) and the table of labelled syntax mistakes beside it."""

from __future__ import annotations

from importlib import resources


def grammar_text() -> str:
    """The text of `parley.lark`, read from the installed package."""
    return resources.files(__package__).joinpath("parley.lark").read_text(encoding="utf-8")
