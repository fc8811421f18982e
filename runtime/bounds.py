"""JSON from outside the script, read within bounds: a model's typed reply, a tool call's arguments, an input.

Python's decoder recurses once per level of nesting, so `[[[[…` 100,000 deep
ends in a `RecursionError`, and nothing stops a 10 MB argument set or a
5,000-digit number (slow to convert on some Pythons). So the size and the
nesting are checked on the text first, in linear passes, and the decoder
then refuses numbers that are not finite floats (`NaN`, `Infinity`, `1e999`)
or have more digits than Python converts. The limits (documented in
docs/language.md, "Tools" and "Typed replies"):

- `MAX_DEPTH`: arrays and objects nested at most 100 deep, everywhere.
- `MAX_REPLY_BYTES`: a typed reply is at most 1 MB (UTF-8).
- `MAX_TOOL_ARGUMENT_BYTES`: one tool call's arguments are at most 64 KB.
- `MAX_TOOL_CALLS`: one reply runs at most 16 tool calls; the rest are answered with an error.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

MAX_DEPTH = 100
MAX_REPLY_BYTES = 1_000_000
MAX_TOOL_ARGUMENT_BYTES = 65_536
MAX_TOOL_CALLS = 16
#: Digits of a JSON number, at most (Python's own limit for converting an integer from text).
MAX_DIGITS = 4300

# Strings (closed or not) hold no structure; what is left outside them, past everything but brackets,
# is the nesting, one step per bracket.
_STRING = re.compile(r'"(?:[^"\\]+|\\.)*"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class JSONBoundsError(ValueError):
    """JSON text refused before or while decoding: too large, nested too deep, or a number out of range.
    A `ValueError`, so code that reads "not JSON" from a `ValueError` reads this as not usable too."""


def size(text: str) -> int:
    """The text's size in UTF-8 bytes (a lone surrogate counted as the 3 bytes it would take)."""
    return len(text.encode("utf-8", "surrogatepass"))


def nesting(text: str) -> int:
    """How deep the text nests arrays and objects, brackets inside strings aside: at least what a JSON
    decoder would recurse into before it accepted or refused the text."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def loads(text: str, what: str, max_bytes: int | None = None) -> Any:
    """The JSON value of `text`, or `JSONBoundsError` (too big, too deep, a number out of range) or
    `ValueError` (not JSON); `what` names the text at the start of the message ("the reply: …"), if given."""
    lead = f"{what}: " if what else ""
    if max_bytes is not None and len(text) > max_bytes // 4:  # (a character is at most 4 bytes)
        measured = size(text)
        if measured > max_bytes:
            raise JSONBoundsError(f"{lead}{measured:,} bytes, over the limit of {max_bytes:,} bytes")
    depth = nesting(text)
    if depth > MAX_DEPTH:
        raise JSONBoundsError(f"{lead}arrays or objects nested {depth:,} deep, over the limit of {MAX_DEPTH}")
    try:
        return json.loads(text, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except JSONBoundsError as error:
        raise JSONBoundsError(f"{lead}{error}") from None


def _constant(name: str) -> Any:
    raise JSONBoundsError(f"`{name}` is not a number JSON allows")


def _float(digits: str) -> float:
    if len(digits) > MAX_DIGITS:
        raise JSONBoundsError(f"a number of {len(digits):,} characters is too long")
    number = float(digits)
    if not math.isfinite(number):
        raise JSONBoundsError(f"{clip(digits, 40)} is too large for a number")
    return number


def _int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_DIGITS:
        raise JSONBoundsError(f"an integer of {len(digits):,} digits is too long (at most {MAX_DIGITS})")
    return int(digits)


def value_problem(value: Any, finite: bool = True) -> str | None:
    """What makes a value from Python (a host's input, a tool's result) unusable as JSON data, or None:
    nested deeper than `MAX_DEPTH` (as a value containing itself is), or with `finite`, holding a float
    that is NaN or infinite."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if finite and isinstance(item, float) and not math.isfinite(item):
            return f"{item} is not a finite number"
        if isinstance(item, dict | list | tuple):
            if depth >= MAX_DEPTH:
                return f"lists or dicts nested more than {MAX_DEPTH} deep"
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return None


def clip(text: str, most: int = 200) -> str:
    """`text` cut to about `most` characters, keeping both ends (a message quoting a huge value stays short)."""
    if len(text) <= most:
        return text
    half = most // 2
    return f"{text[:half]}…({len(text) - 2 * half:,} characters)…{text[-half:]}"
