"""The REPL's prompt at a terminal: line editing, history, completion and highlighting (prompt_toolkit).

One prompt reads a whole entry: Enter inserts a new line (indented like the
one before, one level deeper after a block header) until the entry is
complete, so history recalls whole blocks.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import CompleteEvent, Completer, Completion, PathCompleter
from prompt_toolkit.document import Document
from prompt_toolkit.filters import Condition
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.formatted_text.utils import split_lines
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.lexers import Lexer
from prompt_toolkit.styles import Style

from parley._repl_text import CONTINUATION, PROMPT, is_complete, split_prose
from parley.dsl.keywords import RESERVED, SOFT
from parley.highlight import fragments

INDENT = "    "

STYLE = Style.from_dict({
    "keyword": "ansiblue bold", "string": "ansigreen", "comment": "ansibrightblack italic",
    "agent": "ansimagenta bold", "number": "ansicyan", "meta": "ansiyellow",
})

def history_path() -> Path:
    """Where entries are remembered between sessions: $XDG_STATE_HOME/parley/repl_history
    (~/.local/state/parley/repl_history by default)."""
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "parley" / "repl_history"


def _history() -> History:
    path = history_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
    except OSError:
        return InMemoryHistory()  # a read-only home still gets a working prompt
    return FileHistory(str(path))


def highlighted(line: str) -> StyleAndTextTuples:
    """One line as styled fragments: keywords, strings, comments, `@agents`, numbers; prose stays plain."""
    if line.lstrip().startswith(":"):
        return [("class:meta", line)]
    return _styled(line)


def _styled(text: str) -> StyleAndTextTuples:
    return [(f"class:{kind}" if kind else "", piece) for kind, piece in fragments(text)]


class _Lexer(Lexer):
    """The whole entry lexed at once by Parley's Pygments lexer (`parley.highlight`), so a triple-quoted
    string spanning lines is one string; a meta-command is shown as one."""

    def lex_document(self, document: Document) -> Callable[[int], StyleAndTextTuples]:
        lines: list[StyleAndTextTuples]
        if document.text.lstrip().startswith(":"):
            lines = [[("class:meta", line)] for line in document.lines]
        else:
            lines = list(split_lines(_styled(document.text)))
        return lambda number: lines[number] if number < len(lines) else []


class _Completer(Completer):
    """Meta-commands, `@agent` names, keywords, variables and declared names; file paths after `:load`."""

    def __init__(self, names: Callable[[], dict[str, list[str]]], commands: Iterable[str],
                 builtins: Iterable[str]) -> None:
        self.names = names
        self.commands = sorted(commands)
        self.builtins = sorted(builtins)
        self.paths = PathCompleter(file_filter=lambda name: os.path.isdir(name) or name.endswith(".agent"),
                                   expanduser=True)

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        line = document.current_line_before_cursor
        command, _, argument = line.lstrip().partition(" ")
        if document.cursor_position_row == 0 and line.lstrip().startswith(":"):
            if not _:
                yield from _starting(command, [f":{c}" for c in self.commands])
            elif command in (":load", ":run", ":save"):
                yield from self.paths.get_completions(Document(argument), complete_event)
            elif command == ":history":
                yield from _starting(argument, self.names()["agents"])
            elif command == ":model":
                yield from _starting(argument, ["script", "local", "scripted:"])
            elif command == ":plan":
                yield from _starting(argument, ["all"])
            return
        prose = split_prose(line)[1]
        if prose and prose.count("{") <= prose.count("}"):
            return  # plain words to an agent (only an interpolation holds names)
        word = re.search(r"@?[A-Za-z_]\w*$|@$", line)
        if word is None:
            return
        text = word.group()
        names = self.names()
        if text.startswith("@"):
            yield from _starting(text, [f"@{a}" for a in names["agents"]])
            return
        known = sorted(RESERVED | SOFT) + names["variables"] + names["other"] + names["agents"] + self.builtins
        yield from _starting(text, list(dict.fromkeys(known)))


def _starting(prefix: str, candidates: list[str]) -> Iterable[Completion]:
    for candidate in candidates:
        if candidate.startswith(prefix) and candidate != prefix:
            yield Completion(candidate, start_position=-len(prefix))


def _bindings() -> KeyBindings:
    keys = KeyBindings()

    @Condition
    def at_indent() -> bool:
        from prompt_toolkit.application import get_app

        before = get_app().current_buffer.document.current_line_before_cursor
        return not before.strip()

    @keys.add("enter")
    def _enter(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        text = buffer.text
        at_end = not buffer.document.text_after_cursor.strip()
        if at_end and (text.lstrip().startswith(":") or is_complete(text)):
            buffer.text = text.rstrip()
            buffer.validate_and_handle()
            return
        line = buffer.document.current_line_before_cursor
        indent = line[: len(line) - len(line.lstrip())]
        if line.rstrip().endswith(":"):
            indent += INDENT
        buffer.insert_text("\n" + indent)

    @keys.add("tab", filter=at_indent)
    def _tab(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text(INDENT)

    @keys.add("backspace", filter=at_indent)
    def _dedent(event: KeyPressEvent) -> None:
        before = event.current_buffer.document.current_line_before_cursor
        width = (len(before) % len(INDENT) or len(INDENT)) if before else 1  # back one level, or join lines
        event.current_buffer.delete_before_cursor(width)

    return keys


def entry_prompt(names: Callable[[], dict[str, list[str]]], commands: Iterable[str],
                 builtins: Iterable[str]) -> PromptSession[str]:
    """The prompt entries are typed at."""
    return PromptSession(
        PROMPT, multiline=True, prompt_continuation=lambda width, line, wrap: CONTINUATION, history=_history(),
        completer=_Completer(names, commands, builtins), complete_while_typing=False, lexer=_Lexer(),
        style=STYLE, key_bindings=_bindings(), include_default_pygments_style=False,
    )


def answer_prompt() -> PromptSession[str]:
    """The prompt a person answers an agent's question at (no history, no completion)."""
    return PromptSession(history=InMemoryHistory())
