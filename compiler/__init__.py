"""The compiler: a syntax tree → checked declarations and a conversation plan (plain data).

`compile_source` and `compile_path` (in `parley.compiler.driver`) return a
`CompileResult` with the plan (None when there are errors) and every
diagnostic. The compiler never calls a model. `parley.compiler.plan` is the
plan IR, the one thing the runtime imports from here; importing it loads no
parser.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from parley.compiler.driver import CompileResult, compile_path, compile_source

__all__ = ["CompileResult", "compile_path", "compile_source"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from parley.compiler import driver

        return getattr(driver, name)
    raise AttributeError(f"module 'parley.compiler' has no attribute {name!r}")
