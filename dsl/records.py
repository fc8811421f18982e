"""The base of the syntax tree's nodes and the plan's records: one `__repr__`, `__eq__` and `__hash__` for all.

attrs compiles a `__repr__`, an `__eq__` and a `__hash__` for every class it builds. For the ~130 record
classes of `parley.dsl.nodes` and `parley.compiler.plan` that was most of what building them costs at
import, paid by every `parley check` and `parley run` (benchmarks/startup.py). So these classes are
declared `@attrs.frozen(kw_only=True, repr=False, eq=False)` on `Record`, whose methods do what attrs'
would: show the fields, and compare and hash them (a record equals only a record of its own class).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import attrs


class Record:
    """An attrs record (the subclass is decorated `repr=False, eq=False`), shown as `Name(field=value, …)`."""

    __slots__ = ()

    def __repr__(self) -> str:
        fields: tuple[attrs.Attribute[Any], ...] = getattr(self, "__attrs_attrs__")  # noqa: B009 - set by attrs
        shown = []
        for field in fields:
            if field.repr is not False:
                show = repr if field.repr is True else field.repr
                shown.append(f"{field.name}={show(getattr(self, field.name, attrs.NOTHING))}")
        return f"{type(self).__qualname__.rsplit('>.', 1)[-1]}({', '.join(shown)})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return _fields_of(self.__class__)(self) == _fields_of(self.__class__)(other)

    def __hash__(self) -> int:
        return hash((self.__class__, _fields_of(self.__class__)(self)))


def _fields_of(cls: type) -> Callable[[Any], Any]:
    """The compared fields of a record class, read in one call (made once per class, kept on it)."""
    getter = cls.__dict__.get("_record_fields")
    if getter is None:
        names = [field.name for field in getattr(cls, "__attrs_attrs__") if field.eq]  # noqa: B009
        getter = operator.attrgetter(*names) if names else _no_fields
        type.__setattr__(cls, "_record_fields", getter)
    return getter  # type: ignore[no-any-return]


def _no_fields(record: Any) -> tuple[()]:
    return ()
