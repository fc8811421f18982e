"""Warnings at the edges of prose: text after `@agent` that looks like something else.

Prose runs to the end of the line or to a comment, which starts at two or more
spaces then `#`. A single space then `# ` is kept as prose (hashtags and URLs
need their `#`), but when it reads like a comment the writer is told, since the
model would receive it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from parley.dsl._tokens import Token, start_of
from parley.dsl.diagnostics import Diagnostic, Severity

if TYPE_CHECKING:
    from parley.dsl._build import TreeBuilder

#: One space or tab, `#`, then a space or the end: `Draft it. # note`, not `#python` or `x.com/#top`.
_LOOKS_LIKE_COMMENT = re.compile(r"(?<![ \t])[ \t]#(?=[ \t]|$)")


def check_prose(token: Token, builder: TreeBuilder) -> None:
    """Warn (P197) when the prose holds ` # …`, which reads like a comment but is sent to the model."""
    text = str(token)
    match = _LOOKS_LIKE_COMMENT.search(text)
    if match is None:
        return
    line, column = start_of(token)
    at = column + match.start() + 1
    builder.diagnostics.append(Diagnostic(
        "P197", "`#` after one space is part of the message, not a comment",
        builder.rel_span(line, at, line, at + len(text) - match.start() - 2),
        severity=Severity.WARNING, label="sent to the model",
        help="put two spaces before `#` to make it a comment, or drop the space after `#` if it is text",
    ))
