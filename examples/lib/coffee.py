"""The commander's side of the coffee supply chain (examples/supply_chain.agent).

`model_source` is the optimization model's program (coffee_model.py beside
this file), and `model_head` the part of it the writer reads; `with_constraint` writes the writer's
code into it at the marker and fences the result for an executor agent, so
the code runs in the model only as the executor runs it, contained.
"""

from __future__ import annotations

import re
from pathlib import Path

MARKER = "# WHAT-IF CONSTRAINTS"


def model_source() -> str:
    """The optimization model's program, as text."""
    return (Path(__file__).parent / "coffee_model.py").read_text(encoding="utf-8")


def model_head() -> str:
    """What the writer reads: the model's code up to the marker, its data and the names a rule may use (the
    solver below the marker needs no change, and a shorter prompt is a faster one)."""
    text = model_source()
    code = text[text.index('"""', 3) + 3:]  # after the module docstring, which is for people
    return code[:code.index(MARKER) + len(MARKER)].strip() + "\n"


def with_constraint(message: str) -> str:
    """The model's program with the ```python blocks of `message` written in at the marker, fenced for an
    executor; empty when the message holds no such block."""
    blocks = re.findall(r"```python[ \t]*\n(.*?)```", message, flags=re.DOTALL)
    if not blocks:
        return ""
    code = "\n".join(block.strip() for block in blocks)
    return "```python\n" + model_source().replace(MARKER, MARKER + "\n" + code, 1) + "```"
