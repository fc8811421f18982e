"""A script's own Python modules: found by file in its folders, imported under private names.

`from python "tools" import f` (and a python agent's `"tools:f"`) means the
file `tools.py` (or the package `tools/`) in the importing script's folder
first, and only then a module installed for Python. A module found by file
is imported from that file under a private name (`parley_script_<hash>_tools`),
so it never meets a module of the host program that has the same name, and
its folder is on `sys.path` only while the module's own code runs (so it may
import the modules beside it, which Python then keeps under their own names).

The compiler (at check time) and the runtime (at run time) both import
through here, so in one process they see the one module object. This is a
leaf: it imports nothing of Parley's.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.machinery
import importlib.util
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

#: Imports by file, one at a time: they change `sys.path` for a moment.
_LOCK = threading.RLock()


def location(module: str, folder: str | Path) -> Path | None:
    """Where the top of `module` is in `folder` (`a.py`, `a/__init__.py`, or a folder `a/` without one),
    provided the whole of a dotted `module` is there too; None when `folder` does not have it."""
    parts = module.split(".")
    if not all(part.isidentifier() for part in parts):
        return None
    base = Path(folder)
    top, file = base / parts[0], base / f"{parts[0]}.py"
    if (top / "__init__.py").is_file():  # as Python finds them: a package, then a module, then a plain folder
        found = top / "__init__.py"
    elif file.is_file():
        return file if len(parts) == 1 else None  # a module has no submodules
    elif len(parts) > 1 and top.is_dir():
        found = top
    else:
        return None
    if len(parts) > 1:
        whole = base.joinpath(*parts)
        if not (whole.with_name(f"{whole.name}.py").is_file() or (whole / "__init__.py").is_file()):
            return None
    return found


def private_name(top: Path, name: str) -> str:
    """The name a module found at `top` is imported under: its own name, made unique by where it is."""
    digest = hashlib.sha256(str(top.resolve()).encode()).hexdigest()[:12]
    return f"parley_script_{digest}_{name}"


def load(module: str, folder: str | Path) -> ModuleType | None:
    """`module` imported from its file in `folder`; None when `folder` has no such module.

    Whatever the module's own code raises while it loads is raised as it is.
    """
    top = location(module, folder)
    if top is None:
        return None
    first, _, rest = module.partition(".")
    private = private_name(top, first)
    with _LOCK:
        loaded = sys.modules.get(private) or _import_top(private, top, Path(folder))
        if rest:
            with _on_path(Path(folder)):
                loaded = importlib.import_module(f"{private}.{rest}")
    return loaded


def _import_top(private: str, top: Path, folder: Path) -> ModuleType:
    spec: importlib.machinery.ModuleSpec | None
    if top.is_dir():  # a namespace package: a folder of modules without `__init__.py`
        spec = importlib.machinery.ModuleSpec(private, None, is_package=True)
        spec.submodule_search_locations = [str(top)]
    else:
        package = [str(top.parent)] if top.name == "__init__.py" else None
        spec = importlib.util.spec_from_file_location(private, top, submodule_search_locations=package)
        assert spec is not None and spec.loader is not None, f"no loader for {top}"
    module = importlib.util.module_from_spec(spec)
    sys.modules[private] = module  # before its code runs: dataclasses, pickle and typing look it up there
    try:
        if spec.loader is not None:
            importlib.invalidate_caches()  # a file written a moment ago is seen
            with _on_path(folder):
                spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[private]
        raise
    return module


@contextlib.contextmanager
def _on_path(folder: Path) -> Iterator[None]:
    """`folder` first on `sys.path` while a module of it loads: it may import its neighbours."""
    entry = str(folder)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(entry)
