"""What every compiler pass shares: the diagnostics being collected and how to phrase them."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Mapping

import attrs
from parley.dsl.diagnostics import Diagnostic, Severity
from parley.dsl.source import Source, Span

#: Candidate names all "did you mean" hints of one compilation compare, in all (about a second of work).
SUGGESTION_BUDGET = 200_000


@attrs.define
class Context:
    """Diagnostics of one compilation, and the sources they point into."""

    diagnostics: list[Diagnostic] = attrs.Factory(list)
    sources: dict[str, Source] = attrs.Factory(dict)
    #: Candidate names "did you mean" may still compare in this compilation (see `suggest`).
    suggestions_left: int = SUGGESTION_BUDGET

    def suggest(self, word: str, candidates: Collection[str], where: Mapping[str, Span] | None = None) -> str | None:
        """`did_you_mean`, within the compilation's budget: thousands of unknown names among thousands
        of known ones would otherwise compare every pair (minutes), for hints past the shown errors."""
        if len(candidates) > self.suggestions_left:
            self.suggestions_left = 0
            return None
        self.suggestions_left -= len(candidates)
        return did_you_mean(word, candidates, where)

    def error(self, code: str, message: str, span: Span, label: str = "", help: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(code, message, span, Severity.ERROR, label, help))

    def warning(self, code: str, message: str, span: Span, label: str = "", help: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(code, message, span, Severity.WARNING, label, help))

    @property
    def failed(self) -> bool:
        return any(d.is_error for d in self.diagnostics)


def did_you_mean(word: str, candidates: Iterable[str], where: Mapping[str, Span] | None = None) -> str | None:
    """"did you mean `x` (declared at file:line:col)?" for the closest candidate, if any is close."""
    choices = sorted(set(candidates))
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if not close and len(word) > 2:
        close = [c for c in choices if c.lower() == word.lower()]
    if not close:
        return None
    found = close[0]
    span = (where or {}).get(found)
    return f"did you mean `{found}`" + (f" (declared at {span})?" if span else "?")
