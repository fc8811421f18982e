"""A count kept between turns: the state a python agent keeps.

`parley run --resume` runs this agent's earlier turns again (it is local
Python, and not marked `parley_journal = True`), so the count a resumed run
goes on from is the one the interrupted run had reached.
"""

from __future__ import annotations

_count = 0


def tick(message: str) -> str:
    """Count one more, and say the count."""
    global _count
    _count += 1
    return str(_count)
