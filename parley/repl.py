"""`parley repl`: a prompt where each entry is compiled against the session so far and run at once.

At a terminal, entries are typed at a prompt_toolkit prompt (history,
completion, highlighting); otherwise they are read from standard input in
order, without prompts, for scripting. Lines starting with `:` are
meta-commands. Nothing an entry does ends the session: a compile error shows
its diagnostic, a run failure its message, Ctrl-C cancels the running entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click

from parley._repl_text import CONTINUATION, PROMPT, is_complete
from parley.console import Console, ask_person
from parley.runtime.budget import shown_cost
from parley.dsl.errors import UsageError
from parley.session import Outcome, Session

#: Meta-commands and what they do (`:help` prints this).
COMMANDS = {
    "help": "this list",
    "agents": "the agents declared so far, with their models",
    "vars": "the variables and their values",
    "history": "AGENT: the conversation with AGENT so far",
    "plan": "the plan of the last entry (`:plan all`: of the whole session)",
    "script": "the session as a script (what :save writes)",
    "model": "NAME: use NAME for every agent (a model id, scripted:RULES.json, local; `script`: the declared models)",
    "load": "FILE: add a script's declarations",
    "run": "FILE: add a script's declarations and run its statements",
    "save": "FILE: write the session's entries as a script",
    "reset": "forget everything: declarations, variables, threads",
    "usage": "turns, tokens, cost and time spent so far",
    "quit": "leave (Ctrl-D does too)",
}
_ALIASES = {"q": "quit", "exit": "quit", "h": "help", "?": "help"}
_WIDTH = 200


def start(file: str | None, *, model: str | None = None, base_url: str | None = None, run: bool = False,
          allow_code: bool = False, inputs: dict[str, str] | None = None, echo: bool = False) -> int:
    """Run a REPL session on this process's terminal (or piped input); returns the exit status.
    `echo` shows piped entries with their prompts, so the output reads as a transcript."""
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    loop = asyncio.new_event_loop()
    try:
        repl = Repl(interactive, file=file, model=model, base_url=base_url, allow_code=allow_code,
                    inputs=inputs or {})
        repl.echo = echo and not interactive
        return loop.run_until_complete(repl.main(run))
    except KeyboardInterrupt:
        return 130
    finally:
        loop.close()


class Repl:
    """Reads entries and meta-commands, hands entries to the session, and shows what happened."""

    def __init__(self, interactive: bool, *, file: str | None, model: str | None, base_url: str | None,
                 allow_code: bool, inputs: dict[str, str]) -> None:
        self.interactive = interactive
        self.color = interactive and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
        self.console = Console(color=self.color)
        self.file = file
        self.options: dict[str, Any] = {"model": model, "base_url": base_url, "allow_code": allow_code,
                                        "inputs": inputs}
        self.session = self._session()
        self.status = 0
        self.echo = False
        self._running: asyncio.Future[Outcome] | None = None
        self.prompt: Any = None
        self.answers: Any = None
        if interactive:
            from parley._repl_prompt import answer_prompt, entry_prompt
            from parley.runtime.builtins import BUILTINS

            self.prompt = entry_prompt(lambda: self.session.names(), COMMANDS, BUILTINS)
            self.answers = answer_prompt()

    def _session(self) -> Session:
        folder = Path(self.file).parent if self.file else None
        return Session(folder=folder, human=self._human, on_event=self._event, stream=self.console.token,
                       color=self.color, **self.options)

    async def main(self, run: bool) -> int:
        if self.file is not None:
            outcome = await self._submit(self.session.load(self.file, run))
            if outcome is None or not outcome.ok:
                await self.session.close()
                return self.status
            if self.interactive:
                self._note(f"loaded {self.file}: {len(self.session.chunks)} declarations and statements")
        if self.interactive:
            model = self.options["model"]
            self._note("Parley REPL · :help for commands · Ctrl-D to quit" + (f" · model {model}" if model else ""))
        while True:
            text = await self._read()
            if text is None:
                break
            if not text.strip():
                continue
            if self.echo:
                click.echo(_prompted(text))
            if text.lstrip().startswith(":"):
                if not await self._command(text.strip()):
                    break
            elif await self._submit(self.session.submit(text)) is None and not self.interactive:
                break  # interrupted while reading a pipe: stop there
        await self.session.close()
        return 0 if self.interactive else self.status

    # --- reading ---------------------------------------------------------------------

    async def _read(self) -> str | None:
        """The next entry or meta-command; None at the end of the input."""
        if self.interactive:
            try:
                return str(await self.prompt.prompt_async())
            except KeyboardInterrupt:
                return ""  # Ctrl-C at the prompt clears the entry
            except EOFError:
                return None
            finally:
                self._catch_interrupts()
        lines: list[str] = []
        while True:
            line = sys.stdin.readline()
            if not line:
                return "\n".join(lines) if lines else None
            line = line.rstrip("\n")
            if not lines and (not line.strip() or line.lstrip().startswith(":")):
                return line
            lines.append(line)
            if is_complete("\n".join(lines)):
                return "\n".join(lines)

    async def _human(self, agent: str, prompt: str) -> str:
        """A person's turn: the question, then their answer at their own prompt."""
        from parley.dsl.errors import FailureKind, RunError

        self.console.end_stream()
        if not self.interactive:
            return ask_person(agent, prompt)
        click.echo(self._bold(f"{agent}, your turn:") + f" {prompt}", err=True)
        try:
            return str(await self.answers.prompt_async(f"{agent}> "))
        except KeyboardInterrupt:
            raise asyncio.CancelledError from None
        except EOFError:
            raise RunError(FailureKind.HUMAN, f"`{agent}` gave no answer") from None
        finally:
            self._catch_interrupts()

    # --- entries ---------------------------------------------------------------------

    async def _submit(self, work: Awaitable[Outcome]) -> Outcome | None:
        """Run an entry as a task that Ctrl-C cancels; show what it did. None when cancelled."""
        self._running = asyncio.ensure_future(work)
        if not self.interactive:  # piped, Ctrl-C between entries stops everything, as usual
            self._catch_interrupts()
        try:
            outcome = await self._running
        except asyncio.CancelledError:
            self.console.end_stream()
            self._note("cancelled: the session is as it was before this entry")
            self._failed(130)
            return None
        finally:
            self._running = None
            if not self.interactive:
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)
        self.console.end_stream()
        self._report(outcome)
        return outcome

    def _catch_interrupts(self) -> None:
        """Ctrl-C cancels the running entry, and at a terminal does nothing between entries. prompt_toolkit
        takes the signal while it prompts, so at a terminal this is done again after every prompt."""
        def interrupt() -> None:
            if self._running is not None:
                self._running.cancel()

        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # no signals here
            asyncio.get_running_loop().add_signal_handler(signal.SIGINT, interrupt)

    def _report(self, outcome: Outcome) -> None:
        for message in outcome.messages:
            click.echo(message + "\n", err=True)
        if outcome.failure is not None:
            self._error(outcome.failure)
            if outcome.status == "failed":
                self._note("(not kept in the session; what it did before failing stays done)")
        if outcome.replaced:
            self._note(f"(replaces the earlier {', '.join(f'`{name}`' for name in outcome.replaced)})")
        if outcome.has_value and outcome.value is not None:
            click.echo(shown(outcome.value))
        if not outcome.ok:
            self._failed(outcome.exit_code or 1)

    def _event(self, event: Any) -> None:
        self.console(event)
        if event.kind == "output":
            click.echo(self._dim("output: ") + json.dumps(event.data["value"], ensure_ascii=False))

    # --- meta-commands ---------------------------------------------------------------

    async def _command(self, line: str) -> bool:
        """Run a meta-command; False means quit."""
        word, _, argument = line[1:].partition(" ")
        name = _ALIASES.get(word, word)
        handler: Callable[[str], Awaitable[bool | None]] | None = getattr(self, f"_do_{name}", None)
        if name not in COMMANDS or handler is None:
            close = difflib.get_close_matches(name, list(COMMANDS), n=1)
            hint = f"did you mean :{close[0]}? " if close else ""
            self._error(f"unknown command :{word}; {hint}:help lists them")
            self._failed(2)
            return True
        return await handler(argument.strip()) is not False

    async def _do_help(self, argument: str) -> None:
        click.echo("Type a declaration or a statement; a line ending in `:` opens a block, an empty line closes it.")
        for name, what in COMMANDS.items():
            click.echo(f"  :{name:<8} {what}")

    async def _do_agents(self, argument: str) -> None:
        agents = self.session.plan.agents
        if not agents:
            click.echo("no agents yet: declare one, e.g. `agent writer:` and its system message")
        for agent in agents:
            if agent.agent_kind != "llm" or agent.reply_by is not None:
                how = agent.agent_kind if agent.reply_by is None else f"reply by {agent.reply_by}"
            else:
                how = f"model {self.session.model_name or agent.model or self.session.plan.default_model or '(none)'}"
            click.echo(f"{self.console.speaker(agent.name)}  {how}" + (f"  {agent.description}"
                                                                         if agent.description else ""))

    async def _do_vars(self, argument: str) -> None:
        variables = self.session.variables()
        if not variables:
            click.echo("no variables yet")
        inputs = {i.name for i in self.session.plan.inputs}
        for name, value in variables.items():
            click.echo(f"{name} = {_short(shown(value))}" + (self._dim("  (input)") if name in inputs else ""))

    async def _do_history(self, argument: str) -> None:
        agents = [a.name for a in self.session.plan.agents]
        if argument not in agents:
            close = difflib.get_close_matches(argument, agents, n=1)
            hint = f"did you mean {close[0]}?" if close else f"the agents: {', '.join(agents) or 'none yet'}"
            self._error(f":history takes an agent's name; {hint}")
            self._failed(2)
            return
        thread = self.session.thread(argument)
        if not thread:
            click.echo(f"no messages with {argument} yet")
        for message in thread:
            who = self.console.speaker(argument) if message.role == "assistant" else self._bold(
                "you" if message.role == "user" else message.role)
            click.echo(f"{who}\n  " + message.content.replace("\n", "\n  "))

    async def _do_plan(self, argument: str) -> None:
        from parley.compiler.draw import plan_tree

        if argument not in ("", "all"):
            self._error(":plan shows the last entry's plan; `:plan all` the session's")
            self._failed(2)
            return
        plan = self.session.plan if argument == "all" else self.session.last_plan
        if plan is None:
            click.echo("nothing has run yet")
            return
        click.echo(plan_tree(plan))

    async def _do_script(self, argument: str) -> None:
        click.echo(self.session.script().rstrip("\n") or self._dim("(nothing yet)"))

    async def _do_model(self, argument: str) -> None:
        if not argument:
            current = self.session.model_name
            click.echo(f"model {current}" if current else "the models the session declares")
            return
        try:
            await self.session.set_model(None if argument == "script" else argument)
        except UsageError as error:
            self._error(str(error))
            self._failed(2)
            return
        self._note("every agent now uses " + (argument if argument != "script" else "the model it declares"))

    async def _do_load(self, argument: str, run: bool = False) -> None:
        if not argument:
            self._error(f":{'run' if run else 'load'} takes a script's path")
            self._failed(2)
            return
        outcome = await self._submit(self.session.load(os.path.expanduser(argument), run))
        if outcome is not None and outcome.ok:
            self._note(f"loaded {argument}")

    async def _do_run(self, argument: str) -> None:
        await self._do_load(argument, run=True)

    async def _do_save(self, argument: str) -> None:
        if not argument:
            self._error(":save takes a file name, e.g. :save idea.agent")
            self._failed(2)
            return
        if not self.session.chunks:
            click.echo("nothing to save yet")
            return
        try:
            text = self.session.save(os.path.expanduser(argument))
        except OSError as error:
            self._error(f"cannot write {argument}: {error.strerror}")
            self._failed(2)
            return
        lines = text.count("\n")
        self._note(f"saved {lines} line{'s' if lines != 1 else ''} to {argument}")

    async def _do_reset(self, argument: str) -> None:
        await self.session.close()
        self.session = self._session()
        self._note("the session is empty again")

    async def _do_usage(self, argument: str) -> None:
        usage = self.session.usage()
        click.echo(f"{usage['turns']} turn{'s' if usage['turns'] != 1 else ''} · {usage['tokens']} tokens · "
                   f"{shown_cost(usage)} · {usage['seconds']:.1f}s")

    async def _do_quit(self, argument: str) -> bool:
        return False

    # --- output ----------------------------------------------------------------------

    def _dim(self, text: str) -> str:
        return click.style(text, dim=True) if self.color else text

    def _bold(self, text: str) -> str:
        return click.style(text, bold=True) if self.color else text

    def _note(self, text: str) -> None:
        click.echo(self._dim(text), err=True)

    def _error(self, text: str) -> None:
        click.echo(click.style("error: ", fg="red", bold=True) if self.color else "error: ", err=True, nl=False)
        click.echo(text, err=True)

    def _failed(self, code: int) -> None:
        if not self.status:
            self.status = code


def shown(value: Any) -> str:
    """A value as the REPL echoes it: text quoted (so `"3"` and `3` differ), data as JSON."""
    from parley.runtime.evaluate import show
    from parley.runtime.values import Thread

    if isinstance(value, Thread):
        last = json.dumps(value.last.text, ensure_ascii=False)
        return f"<thread {', '.join(value.members)}: {value.turns} turns, {value.stop_reason or 'running'}; last {last}>"
    if isinstance(value, str):
        return json.dumps(str.__str__(value), ensure_ascii=False)
    return show(value)


def _prompted(text: str) -> str:
    """An entry as it would have been typed at the prompt."""
    lines = text.split("\n")
    return "\n".join([PROMPT + lines[0], *(CONTINUATION + line for line in lines[1:])])


def _short(text: str) -> str:
    return text if len(text) <= _WIDTH else text[: _WIDTH - 1] + "…"
