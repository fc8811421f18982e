"""The Parley grammar (`parley.lark`) and the table of labelled syntax mistakes beside it."""

from __future__ import annotations

from pathlib import Path


def grammar_text() -> str:
    """The text of `parley.lark`, read from the installed package (a file beside this one, or a resource)."""
    path = Path(__file__).with_name("parley.lark")
    if path.is_file():
        return path.read_text(encoding="utf-8")
    from importlib import resources  # a zipped install: slower to reach, so only then

    return resources.files(__package__).joinpath("parley.lark").read_text(encoding="utf-8")
