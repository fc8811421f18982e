"""A REPL session: each entry compiled against everything entered before, and run at once.

The session keeps its successful entries as chunks of source (one top-level
statement each). A new entry is compiled together with them as one script by
the real compiler, so every check applies; then only the steps that come from
the new entry run, in one runtime session (`parley.runtime.session`, which
keeps the variables, the threads, the budget and the model clients). The
chunks, joined, are the script `save` writes: declarations first, then the
statements in order.

Diagnostics are given back in the terms the user typed: `<repl:N>` is the
N-th entry, its lines counted from 1; chunks read from a file keep the
file's name and lines.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from parley.dsl import nodes as n
from parley._repl_text import Chunk, chunks, joined
from parley.dsl.diagnostics import Diagnostic, render
from parley.dsl.source import Source, Span

#: Where an expression entry's value is kept while it runs (not a name a script can write).
VALUE = "<value>"
#: Warnings a session does not show: a variable is "unused" only until the next entry uses it.
_QUIET = frozenset({"P003", "P243", "P244"})


@attrs.define
class Outcome:
    """What an entry did. `status`: "ok", "error" (it does not compile; nothing ran), "failed" (it
    stopped at run time; what it did stays done) or "cancelled" (the session is as before it).
    `messages` are rendered diagnostics (errors, and the entry's warnings); `failure` says what
    stopped it."""

    status: str
    messages: list[str] = attrs.Factory(list)
    failure: str | None = None
    value: Any = None
    has_value: bool = False
    replaced: list[str] = attrs.Factory(list)
    exit_code: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@attrs.frozen
class _Layout:
    """Where each chunk sits in the session's text, to map its lines back to where they were typed."""

    name: str
    parts: tuple[Chunk, ...]
    starts: tuple[int, ...]

    def chunk_at(self, line: int) -> tuple[Chunk, int] | None:
        found = None
        for chunk, start in sorted(zip(self.parts, self.starts), key=lambda pair: pair[1]):
            if start <= line:
                found = (chunk, start)
        return found

    def span(self, span: Span) -> Span:
        """A span of the session's text, as a span of the entry or file the chunk came from."""
        if span.file != self.name:
            return span
        place = self.chunk_at(span.line)
        if place is None:
            return span
        chunk, start = place
        offset = chunk.first_line - start
        return Span(chunk.source.name, span.line + offset, span.column, span.end_line + offset, span.end_column)

    def source(self, span: Span) -> Source | None:
        place = self.chunk_at(span.line) if span.file == self.name else None
        return place[0].source if place is not None else None

    def where(self, text: str) -> str:
        """`text` with every `<session>:LINE:COL` it mentions (a "did you mean" …) mapped back."""
        def back(match: re.Match[str]) -> str:
            return str(self.span(Span(self.name, int(match[1]), int(match[2]), int(match[1]), int(match[2]))))

        return re.sub(re.escape(self.name) + r":(\d+):(\d+)", back, text)


class Session:
    """One REPL session: its chunks of source, the current plan, and the runtime session that runs them."""

    def __init__(
        self,
        *,
        folder: str | os.PathLike[str] | None = None,
        model: str | None = None,
        base_url: str | None = None,
        human: Callable[[str, str], Any] | None = None,
        on_event: Callable[[Any], None] | None = None,
        stream: Callable[[str, str], None] | None = None,
        allow_code: bool = False,
        inputs: dict[str, str] | None = None,
        color: bool = False,
    ) -> None:
        from parley.compiler import compile_source
        from parley.program import resolve_model
        from parley.runtime import session as runtime

        self.folder = Path(folder or os.getcwd()).resolve()
        relative = os.path.relpath(self.folder)
        #: The session's text is compiled under this name (beside the folder's scripts, for their
        #: relative paths: imports, `scripted("rules.json")`).
        self.name = "<session>" if relative == "." else os.path.join(relative, "<session>")
        self.color = color
        self.base_url = base_url
        self.chunks: list[Chunk] = []
        self.entries = 0
        empty = compile_source("", self.name).plan
        assert empty is not None
        self.plan = empty
        self.layout = _Layout(self.name, (), ())
        self._live = self.layout
        self.last_plan: Any = None  # the plan of the last entry that ran, for `:plan`
        self.model_name = model
        self._client, self._model_id = resolve_model(model, base_url)
        self._sink = on_event
        #: The runtime's side of the session: variables, threads, inputs, model clients, budget.
        self.runtime = runtime.Session(self.plan, model=self._client, model_id=self._model_id, human=human,
                                       on_event=self._event, stream=stream, allow_code=allow_code, inputs=inputs)

    # --- entries ---------------------------------------------------------------------

    async def submit(self, text: str) -> Outcome:
        """Compile and run one entry typed at the prompt (named `<repl:N>`)."""
        from parley.dsl.parser import parse_source

        self.entries += 1
        parsed = parse_source(text, f"<repl:{self.entries}>")
        return await self._parsed(parsed, run=True, expression=True)

    async def load(self, path: str | os.PathLike[str], run: bool = False) -> Outcome:
        """Add a script file's declarations to the session (and with `run`, run its statements)."""
        from parley.dsl.parser import parse_path

        if not Path(path).is_file():
            return Outcome("error", failure=f"no script at {os.fspath(path)}", exit_code=2)
        return await self._parsed(parse_path(path, os.fspath(path)), run=run, expression=False)

    async def _parsed(self, parsed: Any, run: bool, expression: bool) -> Outcome:
        errors = [d for d in parsed.diagnostics if d.is_error]
        if errors or parsed.module is None:
            return Outcome("error", [render(d, parsed.source, self.color) for d in errors], exit_code=1)
        found = chunks(parsed.module, parsed.source)
        if not run:
            found = [c for c in found if c.is_declaration]
        if not found:
            return Outcome("ok")
        return await self._enter(found, expression and len(found) == 1)

    async def _enter(self, new: list[Chunk], single: bool) -> Outcome:
        from parley.compiler import compile_source
        from parley.compiler import plan as p

        candidate, replaced = _with(self.chunks, new)
        text, starts = joined(candidate)
        result = compile_source(text, self.name, self.folder / "<session>.agent")
        layout = _Layout(self.name, tuple(candidate), tuple(starts))
        fresh = {id(c) for c in new}

        def shown(d: Diagnostic) -> bool:
            if d.is_error:
                return True
            place = layout.chunk_at(d.span.line) if d.span.file == self.name else None
            return d.code not in _QUIET and place is not None and id(place[0]) in fresh

        messages = [self._render(d, result.sources, layout) for d in result.diagnostics if shown(d)]
        if result.plan is None:
            return Outcome("error", messages, exit_code=1)
        plan = result.plan
        first = min((s for c, s in zip(candidate, starts) if id(c) in fresh and not c.is_declaration), default=None)
        steps = _steps_from(plan.body, first) if first is not None else ()
        shown_steps = steps
        value_step = single and isinstance(new[0].node, n.ExprStmt) and len(steps) == 1 and steps[0].kind == "call"
        if value_step:
            call = steps[0]
            steps = (p.AssignStep(id=call.id, span=call.span, reads=call.reads, writes=(*call.writes, VALUE),
                                  target=p.VarTarget(name=VALUE), value=call.expr),)
        outcome = await self._run(plan, steps, layout)
        outcome.messages[:0] = messages
        outcome.replaced = replaced if outcome.ok else []
        if outcome.ok:
            outcome.has_value = value_step
            outcome.value = self.runtime.take(VALUE)
            self.last_plan = self._entry_plan(plan, layout, new, shown_steps)
            if not (value_step and not shown_steps[0].writes):  # an expression with no effect is not kept
                self.chunks = candidate
                self.plan = plan
                self.layout = layout
        return outcome

    async def _run(self, plan: Any, steps: tuple[Any, ...], layout: _Layout) -> Outcome:
        from parley.dsl.errors import RunError
        from parley.runtime.secrets import redact

        self._live = layout  # events of this entry name its lines
        try:  # cancelling (Ctrl-C) goes through: the runtime has put threads and variables back
            await self.runtime.run(plan, steps)
        except RunError as failure:
            span = layout.span(failure.span) if failure.span is not None else None
            where = f"{span.file}:{span.line}: " if span is not None else ""  # as `parley run` says it
            return Outcome("failed", failure=redact(where + layout.where(failure.message)), exit_code=failure.exit_code)
        return Outcome("ok")

    # --- what the session shows ------------------------------------------------------

    def _render(self, diagnostic: Diagnostic, sources: dict[str, Source], layout: _Layout) -> str:
        if diagnostic.span.file != self.name:
            return render(diagnostic, sources.get(diagnostic.span.file), self.color)
        mapped = attrs.evolve(diagnostic, span=layout.span(diagnostic.span), message=layout.where(diagnostic.message),
                              help=layout.where(diagnostic.help) if diagnostic.help else diagnostic.help)
        return render(mapped, layout.source(diagnostic.span), self.color)

    def _event(self, event: Any) -> None:
        if self._sink is None:
            return
        if event.file == self._live.name and event.line is not None:
            span = self._live.span(Span(event.file, event.line, 1, event.line, 1))
            one_line = span.file.startswith("<repl:") and span.line == span.end_line == 1
            event = attrs.evolve(event, file=span.file, line=None if one_line else span.line)
        self._sink(event)

    def _entry_plan(self, plan: Any, layout: _Layout, new: list[Chunk], steps: tuple[Any, ...]) -> Any:
        """The plan of one entry: its declarations and steps, with its own name and lines."""
        lines = [(s, s + c.lines - 1) for c, s in zip(layout.parts, layout.starts) if any(c is x for x in new)]

        def mine(decl: Any) -> bool:
            return decl.span.file == self.name and any(a <= decl.span.line <= b for a, b in lines)

        entry = attrs.evolve(
            plan, file=new[0].source.name, models=tuple(filter(mine, plan.models)),
            agents=tuple(filter(mine, plan.agents)), tools=tuple(filter(mine, plan.tools)),
            types=tuple(filter(mine, plan.types)), inputs=tuple(filter(mine, plan.inputs)),
            budgets=tuple(filter(mine, plan.budgets)), defs=tuple(filter(mine, plan.defs)), body=steps,
            default_model=plan.default_model if any(isinstance(c.node, n.DefaultModel) for c in new) else None,
        )
        return _respan(entry, layout.span)

    def script(self) -> str:
        """The session's successful entries as one script (what `save` writes)."""
        return joined(self.chunks)[0] if self.chunks else ""

    def save(self, path: str | os.PathLike[str]) -> str:
        """Write the session as a script; returns the text written."""
        from parley.dsl.errors import ScriptError
        from parley.dsl.fmt import format_source

        text = self.script()
        try:
            text = format_source(text)
        except ScriptError:  # the session's own text is valid; a layout the formatter refuses is kept as typed
            pass
        Path(path).write_text(text, encoding="utf-8")
        return text

    def variables(self) -> dict[str, Any]:
        """The session's variables and their values (inputs included)."""
        return {k: v for k, v in self.runtime.variables.items() if k != VALUE}

    def thread(self, agent: str) -> tuple[Any, ...]:
        """The conversation with `agent` so far (messages with `role` and `content`)."""
        return self.runtime.thread(agent)

    def names(self) -> dict[str, list[str]]:
        """Names to complete: agents, variables and the other declarations."""
        plan = self.plan
        return {
            "agents": [a.name for a in plan.agents],
            "variables": list(self.variables()),
            "other": [*(m.name for m in plan.models), *(t.name for t in plan.types), *(d.name for d in plan.defs),
                      *(t.name for t in plan.tools)],
        }

    def usage(self) -> dict[str, Any]:
        """Turns, tokens, cost and time spent so far."""
        return self.runtime.usage()

    # --- the model and the session's life ----------------------------------------------

    async def set_model(self, name: str | None) -> None:
        """Use this model for every agent from now on (None: the models the session declares).
        Raises `UsageError` for a model that cannot be used."""
        from parley.program import resolve_model

        client, model_id = resolve_model(name, self.base_url)
        await self.runtime.use_model(client, model_id)
        await self._close_own()
        self._client, self._model_id, self.model_name = client, model_id, name

    async def close(self) -> None:
        await self.runtime.close()
        await self._close_own()

    async def _close_own(self) -> None:
        close = getattr(self._client, "close", None)
        if close is not None:
            await close()


def _with(existing: list[Chunk], new: list[Chunk]) -> tuple[list[Chunk], list[str]]:
    """The session's chunks with the new ones: a declaration of names declared before replaces
    the old declaration (in its place); everything else is added."""
    result = list(existing)
    replaced: list[str] = []
    for chunk in new:
        older = [i for i, c in enumerate(result) if c.is_declaration and c.declares and c.declares <= chunk.declares]
        if chunk.is_declaration and chunk.declares and older:
            replaced.extend(sorted(name for i in older for name in result[i].declares))
            result[older[0]] = chunk
            for i in reversed(older[1:]):
                del result[i]
        else:
            result.append(chunk)
    return result, replaced


def _steps_from(body: tuple[Any, ...], first: int) -> tuple[Any, ...]:
    """The top-level steps from line `first` on; a concurrent group that began earlier keeps only its
    steps from there (the earlier ones ran with an earlier entry)."""
    found: list[Any] = []
    for step in body:
        if step.kind == "concurrent":
            inner = tuple(s for s in step.steps if s.span.line >= first)
            if len(inner) == len(step.steps):
                found.append(step)
            elif len(inner) > 1:
                found.append(attrs.evolve(step, steps=inner))
            else:
                found.extend(inner)
        elif step.span.line >= first:
            found.append(step)
    return tuple(found)


def _respan(value: Any, move: Callable[[Span], Span]) -> Any:
    """`value` (plan data) with every span moved."""
    if isinstance(value, Span):
        return move(value)
    if isinstance(value, tuple):
        return tuple(_respan(item, move) for item in value)
    if attrs.has(type(value)):
        changes = {}
        for field in attrs.fields(type(value)):
            old = getattr(value, field.name)
            new = _respan(old, move)
            if new is not old:
                changes[field.name] = new
        return attrs.evolve(value, **changes) if changes else value
    return value


__all__ = ["VALUE", "Outcome", "Session"]
