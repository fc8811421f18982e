"""The functions of a plan's Python tools and python agents, imported where the plan says.

A plan records the folders its script's own modules were found in,
relative to the script (`Plan.module_path`). A run resolves them against
its `folder`: the folder of the plan file or script it runs (a stored run:
the folder its script was in). A module in one of those folders is imported
from its file under a private name (`compiler.python_modules`), so neither
the host's own module of that name nor the state of `sys.path` decides
which module a script gets; any other module comes from Python's path.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from parley.compiler import plan as p
from parley.compiler import python_modules
from parley.dsl.errors import FailureKind, RunError


def plan_folder(plan: p.Plan, folder: str | os.PathLike[str] | None = None) -> Path:
    """The folder `plan.module_path` is relative to: `folder` if given, else that of the plan's script."""
    return Path(folder if folder is not None else os.path.dirname(os.path.abspath(plan.file)))


def python_function(plan: p.Plan, module: str, name: str,
                    folder: str | os.PathLike[str] | None = None) -> Callable[..., Any]:
    """The function `name` of the plan's module `module`; `RunError` (kind `python`) when it cannot be had.

    `folder` is where the plan runs from (see `plan_folder`).
    """
    base = plan_folder(plan, folder)
    searched = [base / relative for relative in plan.module_path]
    try:
        loaded = next((found for found in (python_modules.load(module, f) for f in searched) if found), None)
        if loaded is None:
            loaded = importlib.import_module(module)
    except ImportError as error:
        where = f" (looked in {', '.join(map(str, searched))}, then on Python's path)" if searched else ""
        raise RunError(FailureKind.PYTHON, f"cannot import python module `{module}`{where}: {error}") from error
    except Exception as error:  # the module's own code failed as it loaded
        raise RunError(FailureKind.PYTHON,
                       f"python module `{module}` failed to load: {type(error).__name__}: {error}") from error
    function = getattr(loaded, name, None)
    if not callable(function):
        found = f"{loaded.__file__}" if getattr(loaded, "__file__", None) else module
        raise RunError(FailureKind.PYTHON, f"python module `{module}` ({found}) has no function `{name}`")
    return function  # type: ignore[no-any-return]
