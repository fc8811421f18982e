"""The cyclic garbage collector, paused while a script is parsed and compiled.

Parsing and compiling make hundreds of thousands of small objects (tokens,
nodes, the plan) that mostly live to the end, and almost no reference cycles:
the collector's passes over them, triggered by the allocations alone, free
nothing and cost a quarter to a third of the compile time of a large script.
Reference counting still frees everything else at once; the few cycles made
meanwhile (a syntax error's traceback) go at the collector's next full pass,
as the objects made are moved to the oldest generation when the block ends.
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
        if not gc.get_freeze_count():  # a host that freezes objects itself keeps its own frozen set
            # What was made meanwhile mostly lives on (the tree, the plan): put it with the long-lived
            # objects at once. Left young, the first collection after `enable` would scan every one of
            # them, a tenth of a large compile, to free nothing.
            gc.freeze()
            gc.unfreeze()
        gc.enable()
