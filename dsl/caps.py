"""How many diagnostics are shown: a few per line, a bounded number in all, the rest counted.

A generated or damaged script can make one mistake thousands of times (every
`{x}` of a long line naming an unknown variable). Each would be rendered with
its source line, so the report would grow with the square of the file. The
list is cut instead: errors are kept before warnings, at most
`MAX_PER_LINE` per source line and `MAX_SHOWN` in all, and one `Omitted`
note (P199) counts what was left out, so the totals stay honest.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from parley.dsl.diagnostics import Diagnostic, Omitted, Severity

#: Diagnostics shown for one source line; the rest of that line's are counted.
MAX_PER_LINE = 3
#: Diagnostics shown for one check (a script and the files it imports).
MAX_SHOWN = 50


def cap(diagnostics: Sequence[Diagnostic], most: int = MAX_SHOWN, per_line: int = MAX_PER_LINE) -> tuple[Diagnostic, ...]:
    """`diagnostics` in their order, cut to `per_line` a line and `most` in all, then a note counting the rest.

    Errors are chosen first, warnings fill the room left. An `Omitted` note
    already in the list (from an earlier cut) is folded into the new one.
    """
    errors = warnings = 0
    first_left_out: Diagnostic | None = None
    kept: set[int] = set()
    per: Counter[tuple[str, int]] = Counter()
    plain = [(i, d) for i, d in enumerate(diagnostics) if not isinstance(d, Omitted)]
    for earlier in (d for d in diagnostics if isinstance(d, Omitted)):
        errors, warnings = errors + earlier.errors, warnings + earlier.warnings
        first_left_out = _earlier(first_left_out, earlier)
    for severity in (Severity.ERROR, Severity.WARNING):
        for index, diagnostic in plain:
            if diagnostic.severity is not severity:
                continue
            line = (diagnostic.span.file, diagnostic.span.line)
            if len(kept) < most and per[line] < per_line:
                kept.add(index)
                per[line] += 1
                continue
            if diagnostic.is_error:
                errors += 1
            else:
                warnings += 1
            first_left_out = _earlier(first_left_out, diagnostic)
    shown = tuple(d for i, d in plain if i in kept)
    if first_left_out is None:
        return shown
    return (*shown, _note(errors, warnings, first_left_out, most, per_line))


def _earlier(current: Diagnostic | None, other: Diagnostic) -> Diagnostic:
    if current is None:
        return other
    return min(current, other, key=lambda d: (d.span.line, d.span.column)) if current.span.file == other.span.file else current


def _note(errors: int, warnings: int, at: Diagnostic, most: int, per_line: int) -> Omitted:
    counted = [f"{n:,} more {kind}{'s' if n != 1 else ''}" for n, kind in ((errors, "error"), (warnings, "warning")) if n]
    return Omitted(
        "P199", f"{' and '.join(counted)} not shown", at.span, Severity.WARNING, label="the first one not shown",
        help=f"at most {per_line} problems are shown per line and {most} in all; fix these and check again",
        errors=errors, warnings=warnings,
    )
