"""Programs from plans: a plan file written by `parley plan --format json`, or the plan a stored run keeps.

A file whose name ends in `.json` is a plan file; any other is a script. A
program read from a plan runs without its script: the plan is validated
first (`compiler.validate`), and its Python modules are found relative to
the plan file's folder (`Plan.module_path` is relative to the script's, so
keep the plan file beside the script, or its modules beside the plan file).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from parley.dsl.errors import PlanError, UsageError
from parley.program import Program

#: The suffix that makes a file a plan file for `parley run`, `parley.load` and `--resume`.
PLAN_SUFFIX = ".json"


def is_plan_file(path: str | os.PathLike[str]) -> bool:
    """Whether `path` names a plan file (by its suffix: a script is never JSON)."""
    return Path(path).suffix.lower() == PLAN_SUFFIX


def load_plan_file(path: str | os.PathLike[str]) -> Program:
    """The program of the plan file at `path`; `PlanError` (naming the file) when it is not a valid plan."""
    from parley.compiler.serialize import plan_from_json

    shown = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise PlanError(f"{shown}: not a plan: not UTF-8 text ({error.reason})") from None
    except OSError as error:
        raise UsageError(f"cannot read {shown}: {error.strerror}") from None
    try:
        return Program.from_plan(plan_from_json(text, validate=False), shown)  # validated once, there
    except PlanError as error:
        raise PlanError(f"{shown}: {error}") from error


def stored_program(store: Any, run_id: str, script_path: str) -> Program | None:
    """The program of the plan run `run_id` keeps in `store` (None if it keeps none); its modules are found
    from `script_path`'s folder, where the run found them."""
    from parley.runtime.recording import stored_plan

    try:
        plan = stored_plan(store, run_id)  # validated as it is read
    except PlanError as error:
        raise PlanError(f"run {run_id}: {error}") from error
    return Program(plan, (), {}, script_path) if plan is not None else None
