"""Parley's keywords: reserved words (never names) and soft keywords (keywords only in their clause).

The grammar's NAME terminal excludes exactly `RESERVED`; a test keeps the two in step.
"""

from __future__ import annotations

RESERVED: frozenset[str] = frozenset({
    "agent", "and", "break", "budget", "chat", "continue", "def", "default", "elif", "else", "false", "for",
    "forget", "from", "group", "if", "import", "in", "input", "is", "model", "none", "not", "or", "output",
    "parallel", "print", "repeat", "return", "tell", "true", "type", "until", "while",
})

SOFT: frozenset[str] = frozenset({
    "anyone", "as", "by", "cost", "flow", "manager", "max", "python", "reply", "says", "select", "time",
    "tokens", "turns",
})
