"""Formatting (`parley fmt`'s formatter) and the plan: a code lens on the first line, and the command that
shows the plan tree (`parley plan`'s)."""

from __future__ import annotations

from lsprotocol import types as t

from parley.compiler import draw
from parley.dsl.errors import ScriptError
from parley.dsl.fmt import format_source
from parley.lsp.analysis import Analysis
from parley.lsp.positions import Lines

#: The command a code lens runs: it returns the plan tree as text (`parley plan FILE`).
PLAN_COMMAND = "parley.plan"


def formatting(analysis: Analysis, lines: Lines) -> list[t.TextEdit] | None:
    """One edit replacing the document with its canonical layout; none when it is already so, and None (no
    change) while the script has syntax errors: the formatter never guesses."""
    try:
        formatted = format_source(analysis.source.text, analysis.source.name)
    except ScriptError:
        return None
    if formatted == analysis.source.text:
        return []
    last = len(lines.lines) - 1
    end = lines.client(last, len(lines.line(last)))
    return [t.TextEdit(range=t.Range(start=t.Position(line=0, character=0), end=end), new_text=formatted)]


def code_lenses(analysis: Analysis) -> list[t.CodeLens]:
    """A lens on the first line saying how big the plan is, which shows the plan tree when clicked."""
    plan = analysis.result.plan if analysis.result is not None else None
    if plan is None:
        return []
    agents = len(plan.agents)
    title = (f"plan: {_steps(plan.body)} steps, {agents} agent{'s' if agents != 1 else ''} "
             f"(show the plan tree)")
    zero = t.Position(line=0, character=0)
    return [t.CodeLens(range=t.Range(start=zero, end=zero),
                       command=t.Command(title=title, command=PLAN_COMMAND, arguments=[analysis.uri]))]


def plan_text(analysis: Analysis) -> str:
    """The plan tree of the document as last checked, or why there is none."""
    plan = analysis.result.plan if analysis.result is not None else None
    if plan is None:
        errors = sum(1 for d in analysis.diagnostics if d.is_error)
        return f"{analysis.source.name}: no plan: the script has {errors} error{'s' if errors != 1 else ''}"
    return draw.plan_tree(plan)


def _steps(steps: tuple) -> int:  # type: ignore[type-arg]
    """How many steps, nested ones too."""
    count = 0
    pending = list(steps)
    while pending:
        step = pending.pop()
        count += hasattr(step, "id")  # an `if`'s branches are not steps; what they hold is
        for attribute in ("steps", "orelse", "branches", "body"):
            inner = getattr(step, attribute, None)
            if isinstance(inner, tuple):
                pending.extend(inner)
    return count
