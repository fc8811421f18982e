"""`from python "module" import f`: resolved at check time, its signature used for arity and schemas.

Modules are looked up as the runtime will (`compiler.python_modules`): by
file in the importing script's own folder first, then on Python's path. The
plan records the folders where modules were found by file, relative to the
script's (`Plan.module_path`), so a plan run elsewhere, later, or from a
plan file finds the same modules.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs

from parley.compiler import plan as p
from parley.compiler import python_modules


@attrs.frozen
class PythonFunction:
    """What the checks and the plan need to know of a Python callable."""

    module: str
    name: str
    params: tuple[p.Param, ...]
    description: str
    schema: dict[str, Any]
    min_args: int
    max_args: int | None
    keywords: tuple[str, ...] | None  # None: any keyword is accepted
    found_in: str | None = None  # the folder the module was found in by file; None: on Python's path

    def describe(self) -> str:
        return f"{self.module}.{self.name}({', '.join(q.name for q in self.params)})"


class PythonImportError(Exception):
    """The module or the function cannot be found; the message says which and why."""


@functools.lru_cache(maxsize=1024)
def resolve(module: str, name: str, folder: str | None = None) -> PythonFunction:
    """Import `module` (from `folder` if it is there, else from Python's path) and describe its
    callable `name`; `PythonImportError` when that fails."""
    try:
        loaded = python_modules.load(module, folder) if folder is not None else None
        found_in = folder if loaded is not None else None
        if loaded is None:
            loaded = importlib.import_module(module)
    except ImportError as error:
        raise PythonImportError(f"cannot import python module `{module}`: {error}") from error
    except Exception as error:  # the module itself failed while loading
        raise PythonImportError(f"python module `{module}` failed to load: {error!r}") from error
    function = getattr(loaded, name, None)
    if function is None:
        raise PythonImportError(f"python module `{module}` has no `{name}`")
    if not callable(function):
        raise PythonImportError(f"`{module}.{name}` is not callable")
    return attrs.evolve(describe(module, name, function), found_in=found_in)


def module_path(script: Path | None, found_in: Iterable[str | None]) -> tuple[str, ...]:
    """`Plan.module_path`: the folders modules were found in by file, relative to the script's folder
    (`.` for its own, `lib`, `../shared`…, written with `/`), each once, in the order first met."""
    if script is None:
        return ()
    folders: list[str] = []
    for folder in found_in:
        if folder is not None:
            relative = Path(os.path.relpath(folder, script.parent)).as_posix()
            if relative not in folders:
                folders.append(relative)
    return tuple(folders)


def describe(module: str, name: str, function: Any) -> PythonFunction:
    """Parameters, arity and JSON Schema from the signature and docstring."""
    doc = inspect.getdoc(function) or ""
    description = doc.split("\n\n", 1)[0].replace("\n", " ").strip()
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # some C functions have no signature: accept any call
        return PythonFunction(module, name, (), description, {"type": "object"}, 0, None, None)
    try:
        hints = typing.get_type_hints(function)
    except Exception:  # noqa: BLE001 - evaluating the tool's annotations runs its code, which may raise anything
        hints = {}
    params: list[p.Param] = []
    properties: dict[str, Any] = {}
    required: list[str] = []
    min_args, max_args, keywords = 0, 0, []
    var_keywords = False
    for parameter in signature.parameters.values():
        if parameter.kind is parameter.VAR_POSITIONAL:
            max_args = None  # type: ignore[assignment]
            continue
        if parameter.kind is parameter.VAR_KEYWORD:
            var_keywords = True
            continue
        has_default = parameter.default is not parameter.empty
        if parameter.kind is not parameter.KEYWORD_ONLY:
            if max_args is not None:
                max_args += 1
            if not has_default:
                min_args += 1
        if parameter.kind is not parameter.POSITIONAL_ONLY:
            keywords.append(parameter.name)
        schema = python_type_schema(hints.get(parameter.name, parameter.annotation))
        properties[parameter.name] = schema
        if not has_default:
            required.append(parameter.name)
        params.append(p.Param(name=parameter.name, type=None, default=None, required=not has_default))
    schema = {"type": "object", "properties": properties, "required": required, "additionalProperties": False}
    return PythonFunction(
        module, name, tuple(params), description, schema, min_args, max_args,
        None if var_keywords else tuple(keywords),
    )


def python_type_schema(annotation: Any) -> dict[str, Any]:
    """JSON Schema for a Python annotation (unknown ones accept anything)."""
    simple = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}
    if annotation in simple:
        return {"type": simple[annotation]}
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (list, tuple, set, frozenset):
        return {"type": "array", "items": python_type_schema(args[0]) if args else {}}
    if origin is dict:
        return {"type": "object", "additionalProperties": python_type_schema(args[1]) if len(args) == 2 else {}}
    if annotation in (list, tuple):
        return {"type": "array"}
    if annotation is dict:
        return {"type": "object"}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        return {"anyOf": [python_type_schema(a) for a in args]}
    return {}
