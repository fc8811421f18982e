"""How big a script's values may grow: every limit in one place, checked where a value is built.

A loop can double a text or nest a list in itself as often as it likes. So
what could exhaust memory while it is built (a text or list from `*`, `+`,
`join`, `replace`, `range`, interpolation, JSON; an integer from `**`) is
checked *before* it is built, from the sizes of the operands or arguments,
and every other value built is measured as it comes (its parts are already
bounded, so it cannot be far past a limit). A value past a limit stops the
run with a value error naming the line, never a `MemoryError`, a
`RecursionError` or a machine out of memory. docs/language.md ("Limits") states them; nesting and
digits are bounded as for JSON from outside (runtime/bounds.py).

The size of a value is counted as if it were written out as JSON: texts by
their characters, integers by their digits, a list or dict by its items and
everything in them (a list holding the same long text twice counts it
twice, since showing the list writes it twice).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from parley.compiler import plan as p
from parley.dsl.errors import FailureKind, RunError
from parley.runtime.bounds import MAX_DEPTH, MAX_DIGITS  # nesting and digits: the same as for JSON from outside
from parley.runtime.values import Record, Thread

if TYPE_CHECKING:
    from parley.runtime.evaluate import Frame

#: Characters in one text.
MAX_TEXT = 10_000_000
#: Items in one value: a list or dict, the items of the lists and dicts in it included.
MAX_ITEMS = 1_000_000
#: A whole value written out as JSON, in characters (roughly: see `measure`).
MAX_SIZE = 20_000_000
#: What `json(value, indent=…)` indents by, at most.
MAX_INDENT = 16

_INT_CEILING = 10**MAX_DIGITS  # the first integer with one digit too many
_MAX_BITS = _INT_CEILING.bit_length()


def refused(message: str) -> RunError:
    """The run error for a value past a limit (the failing step adds its line)."""
    return RunError(FailureKind.VALUE, f"{message} (values are bounded: see Limits in docs/language.md)")


def check_text(length: int, what: str) -> None:
    """A text of `length` characters may be built."""
    if length > MAX_TEXT:
        raise refused(f"{what} would make a text of {length:,} characters, and a text holds at most {MAX_TEXT:,}")


def check_items(count: int, what: str) -> None:
    """A list or dict of `count` items may be built."""
    if count > MAX_ITEMS:
        raise refused(f"{what} would make {count:,} items, and a list or dict holds at most {MAX_ITEMS:,}")


def _too_deep() -> RunError:
    return refused(f"a value would be nested more than {MAX_DEPTH} deep (lists and dicts inside each other)")


def _too_big() -> RunError:
    return refused(f"a value would be larger than {MAX_SIZE:,} characters written out")


def _too_many() -> RunError:
    return refused(f"a value would hold more than {MAX_ITEMS:,} items (those of the lists and dicts in it "
                   "included)")


def _scalar(value: Any) -> int:
    """The written-out size of a value that is not a list or dict; refuses one past a limit."""
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise refused(f"a text of {len(value):,} characters is too long: a text holds at most {MAX_TEXT:,}")
        return len(value) + 2
    if isinstance(value, bool) or value is None:
        return 4
    if isinstance(value, int):
        if not -_INT_CEILING < value < _INT_CEILING:
            raise refused(f"an integer would have more than {MAX_DIGITS:,} digits")
        return max(1, (abs(value).bit_length() - 1) * 30103 // 100000 + 1)  # a lower bound of its digits
    if isinstance(value, float):
        return 3
    if isinstance(value, complex):
        raise RunError(FailureKind.VALUE, "the result would be a complex number (a negative number to a "
                                          "fractional power, say), and scripts have none")
    if isinstance(value, Thread):
        return len(value.last.text) + 2
    return 4


def _container(value: Any, level: int) -> int:
    """Checks a list or dict met `level` deep; its item count (0 for anything else)."""
    if level >= MAX_DEPTH:
        raise _too_deep()
    if len(value) > MAX_ITEMS:
        kind = "dict" if isinstance(value, dict) else "list"
        raise refused(f"a {kind} of {len(value):,} items is too long: a list or dict holds at most {MAX_ITEMS:,}")
    return len(value)


class Size(NamedTuple):
    """A value's size written out (characters, roughly), its depth (0 for a value with no items) and
    its items, those of the lists and dicts in it included."""

    size: int
    depth: int
    items: int


_SMALL = 1 << 53  # an integer below this in size counts as one digit (a lower bound is all `measure` needs)


class _Measure:
    """Sizes and depths of containers met, by identity: a value that holds the same list twice is
    measured in the time its distinct parts take, however large it would be written out.
    Plain items are counted in the loop itself (no call per item): values are measured often."""

    def __init__(self) -> None:
        self.seen: dict[int, Size] = {}

    def of(self, value: Any, level: int) -> Size:
        if not isinstance(value, list | tuple | dict):
            return Size(_scalar(value), 0, 0)
        known = self.seen.get(id(value)) or (_recall(value) if level <= 1 else None)
        if known is not None:
            if level + known.depth > MAX_DEPTH:
                raise _too_deep()
            return known
        count = _container(value, level)
        size, depth = 2 + count, 0
        if isinstance(value, dict):
            for key in value:
                size += _scalar(key) + 1
            items: Iterable[Any] = value.values()
        else:
            items = value
        for item in items:
            kind = type(item)
            if kind is int and -_SMALL < item < _SMALL or kind is float or kind is bool or item is None:
                size += 1
            elif kind is str:
                if len(item) > MAX_TEXT:
                    _scalar(item)
                size += len(item) + 2
            else:
                inner = self.of(item, level + 1)
                size += inner.size
                depth = max(depth, inner.depth)
                count += inner.items
                if size > MAX_SIZE:
                    raise _too_big()
                if count > MAX_ITEMS:
                    raise _too_many()
        if size > MAX_SIZE:
            raise _too_big()
        measured = self.seen[id(value)] = Size(size, depth + 1, count)
        return measured


def measure(value: Any) -> Size:
    """The size and depth of `value`; a `RunError` when it is past a limit."""
    kind = type(value)
    if kind is int and -_SMALL < value < _SMALL or kind is float or kind is bool or value is None:
        return _PLAIN  # most values: measured at every step, so without a call more
    measured = _Measure().of(value, 0)
    if type(value) in _CONTAINERS:
        _remember(value, measured)
    return measured


#: The lists and dicts measured or copied last, with their sizes: a value just built is measured
#: again as it is assigned, and a variable just assigned is often what the next value is built
#: from (`x = [x, x]`). Only `place` changes a container in place, and it forgets them all.
_recent: list[tuple[Any, Size]] = []


def _recall(value: Any) -> Size | None:
    for known, size in _recent:
        if known is value:
            return size
    return None


def _remember(value: Any, size: Size) -> None:
    if _recall(value) is None:
        _recent[:] = [(value, size), *_recent[:1]]


_PLAIN = Size(1, 0, 0)


def bounded(value: Any) -> Any:
    """`value`, once it is known to be within every limit."""
    measure(value)
    return value


def _copy(value: Any) -> Any:
    kind = type(value)
    if kind is list:
        return [_copy(item) if type(item) in _CONTAINERS else item for item in value]
    if kind is dict or kind is Record:
        copy = {key: _copy(item) if type(item) in _CONTAINERS else item for key, item in value.items()}
        return copy if kind is dict else Record(copy)
    if isinstance(value, list | tuple | dict):  # a subclass from elsewhere: copied as its plain kind
        items = [_copy(item) for item in (value.values() if isinstance(value, dict) else value)]
        return dict(zip(value, items)) if isinstance(value, dict) else items if isinstance(value, list) \
            else tuple(items)
    return value


_CONTAINERS = frozenset({list, dict, Record, tuple})


def tree_copy(value: Any) -> Any:
    """A bounded copy of `value` in which no list or dict is shared (values are values): measured
    first, so that a value sharing its parts is refused before its copy could grow past the limits."""
    size = measure(value)
    if type(value) not in _CONTAINERS:
        return value
    copy = _copy(value)
    _remember(copy, size)
    return copy


def check_operands(op: str, left: Any, right: Any) -> None:
    """What `left op right` would build fits the limits (checked before it is built)."""
    if op == "+" and isinstance(left, str) and isinstance(right, str):
        check_text(len(left) + len(right), "`+`")
    elif op == "+" and isinstance(left, list) and isinstance(right, list):
        check_items(len(left) + len(right), "`+`")
    elif op == "*" and (isinstance(left, int) or isinstance(right, int)):
        sequence, times = (right, left) if isinstance(left, int) else (left, right)
        if isinstance(sequence, str) and isinstance(times, int):
            check_text(len(sequence) * max(times, 0), "`*`")
        elif isinstance(sequence, list | tuple) and isinstance(times, int):
            check_items(len(sequence) * max(times, 0), "`*`")
    elif op == "**" and isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
        if (abs(left).bit_length() - 1) * right > _MAX_BITS:
            raise refused(f"`**` would make an integer of more than {MAX_DIGITS:,} digits")
    elif op == "%" and isinstance(left, str):
        raise RunError(FailureKind.VALUE, "`%` is the remainder of two numbers; to put values into a text, "
                                          "interpolate them (\"{x}\")")


def joined(parts: Iterable[str], separator: str = "", what: str = "the text") -> str:
    """`separator.join(parts)`, refused as soon as the parts add up to more than a text holds."""
    pieces: list[str] = []
    total = 0
    for part in parts:
        total += len(part) + (len(separator) if pieces else 0)
        if total > MAX_TEXT:
            raise refused(f"{what} would make a text of more than {MAX_TEXT:,} characters, the most a text holds")
        pieces.append(part)
    return separator.join(pieces)


def as_json(value: Any, indent: Any = None) -> str:
    """The JSON text of a value, no longer than a text may be (an indented one is written piece by piece)."""
    if measure(value).size > MAX_TEXT:
        raise refused(f"the JSON text would have more than {MAX_TEXT:,} characters, the most a text holds")
    if indent is None:
        written = json.dumps(value, ensure_ascii=False, default=str)
        check_text(len(written), "the JSON text")
        return written
    if isinstance(indent, bool) or not (isinstance(indent, int) and 0 <= indent <= MAX_INDENT
                                        or isinstance(indent, str) and len(indent) <= MAX_INDENT):
        raise RunError(FailureKind.VALUE, f"json(): `indent` is a number of spaces from 0 to {MAX_INDENT} "
                                          "(or a text that short)")
    encoder = json.JSONEncoder(indent=indent, ensure_ascii=False, default=str)
    return joined(encoder.iterencode(value), what="the JSON text")


def range_list(*bounds: Any) -> list[int]:
    """`range(…)` as a list, its length checked before it is made."""
    numbers = range(*bounds)
    start, stop, step = numbers.start, numbers.stop, numbers.step  # any size: len() could overflow
    count = max(0, (stop - start + step - 1) // step if step > 0 else (start - stop - step - 1) // -step)
    check_items(count, "range()")
    return list(numbers)


def place(frame: Frame, target: p.ItemTarget | p.AttrTarget, container: Any, key: Any, value: Any) -> None:
    """`container[key] = value` for an item or field assignment, keeping the variable that holds the
    container within the limits; a value past one is refused and the container left as it was.

    The variable is not measured again at every assignment (filling a dict would take quadratic
    time): the frame keeps bounds on its size and items that each assignment raises by what it
    adds, and only a bound past its limit has the variable measured exactly.
    """
    name, hops = _root(target)
    added = measure(value)
    if hops + added.depth > MAX_DEPTH:
        raise _too_deep()
    had = isinstance(container, list) or key in container
    if not had:
        check_items(len(container) + 1, "the assignment")
    old = container[key] if had else None
    _recent.clear()  # a container changes in place: what was measured may not hold
    container[key] = value
    if name is None or name not in frame.variables:
        return
    root = frame.variables[name]
    held = frame.grown.get(name)
    if held is not None and held[0] is root:
        size, items = held[1] + added.size + _scalar(key) + 2, held[2] + added.items + 1
    else:
        size, items = MAX_SIZE + 1, MAX_ITEMS + 1  # not known yet: measured below
    if size > MAX_SIZE or items > MAX_ITEMS:
        try:
            size, _, items = measure(root)
        except RunError:
            if had:
                container[key] = old
            else:
                del container[key]
            raise
    frame.grown[name] = (root, size, items)


def _root(target: p.ItemTarget | p.AttrTarget) -> tuple[str | None, int]:
    """The variable an item or field assignment changes (None: a value held by none), and how deep
    in it the assigned value goes."""
    hops, inner = 1, target.value
    while isinstance(inner, p.GetItem | p.GetAttr):
        hops, inner = hops + 1, inner.value
    return (inner.name if isinstance(inner, p.Var) else None), hops
