"""What a Python function is given of a conversation: the thread as plain dicts, chosen by its signature.

A python agent written `f(text)` gets the message it answers, as before; one that also takes the
conversation (`f(text, thread)`, or a parameter named `thread` or `messages`) gets a list of
`{"sender", "role", "content"}` dicts: its own copy, so nothing it changes reaches the run.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any, Literal

import attrs
from parley.runtime.models import Message

#: Parameter names that receive the thread wherever they stand.
THREAD_NAMES = ("thread", "messages")
#: The sender of the script's own messages (a conversation's opening, an ask).
SCRIPT = "script"

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


Slot = Literal["text", "thread"]


@attrs.frozen
class Shape:
    """How to call a function: what its positional parameters get, in order, and the keyword-only
    parameter that gets the thread (if one does)."""

    positional: tuple[Slot, ...] = ("text",)
    keyword: str | None = None


def shape(function: Callable[..., Any]) -> Shape:
    """Read the signature: a parameter named `thread`/`messages` takes the thread; else a second required
    positional parameter does; the first other positional parameter takes the text. A callable without
    a readable signature (some built-ins) is called with the text alone."""
    try:
        params = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return Shape()
    named = next((q for q in params if q.name in THREAD_NAMES and q.kind != inspect.Parameter.VAR_KEYWORD), None)
    positional = [q for q in params if q.kind in _POSITIONAL]
    if named is None:
        takes_thread = len(positional) >= 2 and positional[1].default is inspect.Parameter.empty
        return Shape(("text", "thread") if takes_thread else ("text",))
    slots: list[Slot] = []
    for q in positional:
        if q is named:
            slots.append("thread")
        elif "text" not in slots:
            slots.append("text")
        else:
            break
        if "thread" in slots and "text" in slots:
            break
    return Shape(tuple(slots), keyword=None if "thread" in slots else named.name)


def arguments(how: Shape, text: str, thread: list[dict[str, str]]) -> tuple[list[Any], dict[str, Any]]:
    """The positional and keyword arguments of one call."""
    args = [text if slot == "text" else thread for slot in how.positional]
    return args, ({how.keyword: thread} if how.keyword is not None else {})


def takes_thread(how: Shape) -> bool:
    return "thread" in how.positional or how.keyword is not None


def speaker_name(agent: str) -> str:
    """An agent's name as a message's `name` (which allows no dots)."""
    return agent.replace(".", "_")


def thread_of(messages: Iterable[Message], me: str, senders: Callable[[str], str]) -> list[dict[str, str]]:
    """The conversation as `me` sees it, as dicts: its own messages are `assistant`, the others' `user`
    named by their speaker (`senders` maps a message's name back to the agent's), the script's `script`."""
    out = []
    for m in messages:
        if m.role == "assistant":
            sender = me
        elif m.role == "user":
            sender = senders(m.name) if m.name and m.name != SCRIPT else SCRIPT
        else:
            continue  # system messages and tool traffic are not the conversation
        out.append({"sender": sender, "role": m.role, "content": m.content})
    return out


__all__ = ["SCRIPT", "THREAD_NAMES", "Shape", "arguments", "shape", "speaker_name", "takes_thread", "thread_of"]
