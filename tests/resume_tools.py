"""Python tools for the kill-and-resume tests: each execution appends a line to $PARLEY_TOOL_LOG.

That log is an outside effect, so both are marked `parley_journal = True`: a resume serves their
results from the journal instead of running them again (tests/test_resume_stateful.py covers the
functions that are run again).
"""

from __future__ import annotations

import hashlib
import os
import time

#: The environment variable naming the file every tool execution is logged to.
LOG_ENV = "PARLEY_TOOL_LOG"


def _executed(line: str) -> None:
    path = os.environ.get(LOG_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(line + "\n")
            log.flush()
            os.fsync(log.fileno())
    time.sleep(0.02)  # a tool takes a moment, so a kill can land while it runs


def lookup(word: str) -> str:
    """Look a word up and return its entry."""
    _executed(f"lookup {word}")
    return f"entry-{hashlib.sha256(word.encode()).hexdigest()[:6]}"


def stamp(word: str) -> str:
    """Stamp a word with a short checksum."""
    _executed(f"stamp {word}")
    return f"{word}#{sum(word.encode()) % 97}"


lookup.parley_journal = True  # type: ignore[attr-defined]
stamp.parley_journal = True  # type: ignore[attr-defined]
