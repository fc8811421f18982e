"""The base of the syntax tree's nodes and the plan's records: one `__repr__` that all of them share.

attrs compiles a `__repr__` for every class it builds. For the ~130 record classes of `parley.dsl.nodes`
and `parley.compiler.plan` that was a third of what building them costs at import, paid by every
`parley check` and `parley run` (benchmarks/startup.py). So these classes are declared
`@attrs.frozen(kw_only=True, repr=False)` on `Record`, whose `__repr__` writes what attrs' would.
"""

from __future__ import annotations

from typing import Any

import attrs


class Record:
    """An attrs record (the subclass is decorated `repr=False`), shown as `Name(field=value, …)`."""

    __slots__ = ()

    def __repr__(self) -> str:
        fields: tuple[attrs.Attribute[Any], ...] = getattr(self, "__attrs_attrs__")  # noqa: B009 - set by attrs
        shown = []
        for field in fields:
            if field.repr is not False:
                show = repr if field.repr is True else field.repr
                shown.append(f"{field.name}={show(getattr(self, field.name, attrs.NOTHING))}")
        return f"{type(self).__qualname__.rsplit('>.', 1)[-1]}({', '.join(shown)})"
