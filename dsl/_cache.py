"""The per-user folder where parsing tables are cached (Lark's grammar and Parley's own tables)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_folder() -> Path | None:
    """`$XDG_CACHE_HOME/parley` (or `~/.cache/parley`), made private; None when caching is off or impossible."""
    if os.environ.get("PARLEY_NO_GRAMMAR_CACHE"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    folder = Path(base) / "parley"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return None
    if not os.access(folder, os.W_OK):
        return None
    return folder
