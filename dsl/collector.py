"""The cyclic garbage collector, paused while a script is parsed and compiled.

Parsing and compiling make hundreds of thousands of small objects (tokens,
nodes, the plan) that mostly live to the end, and almost no reference cycles:
the collector's passes over them, triggered by the allocations alone, free
nothing and cost a quarter to a third of the compile time of a large script.
Reference counting still frees everything else at once; the few cycles made
meanwhile (a syntax error's traceback) go at the collector's next pass.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection inside this block (nested blocks keep it off until the outermost ends)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
