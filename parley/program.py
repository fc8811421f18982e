"""The public API for compiled scripts: `compile`, `load` and `Program`."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from parley.dsl.diagnostics import Diagnostic, render_all
from parley.dsl.errors import FailureKind, HostError, InternalError, RunError, ScriptError, UsageError
from parley.dsl.source import Source

if TYPE_CHECKING:  # the compiler imports dsl's syntax tree, so dsl imports it lazily
    from parley.compiler import CompileResult
    from parley.compiler.plan import Plan


@attrs.frozen
class Program:
    """A compiled script: its `plan` and the warnings found while compiling it.

    `path` is the file the program was loaded from when that is not its script `plan.file` (a plan
    file, or the script of a stored run that is gone); the plan's `module_path` starts at its folder.
    """

    plan: Plan
    diagnostics: tuple[Diagnostic, ...]
    sources: dict[str, Source]
    path: str | None = None

    @classmethod
    def from_plan(cls, plan: Plan, path: str | os.PathLike[str] | None = None) -> Program:
        """A program that runs `plan` (built by hand, or read from JSON), validated first: `PlanError` lists
        every name it uses but does not declare. `path`: the file it came from (see the class)."""
        from parley.compiler.validate import validate

        return cls(validate(plan), (), {}, os.fspath(path) if path is not None else None)

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if not d.is_error)

    def render_warnings(self, color: bool = False) -> str:
        return render_all(self.warnings, self.sources, color)

    def run(self, inputs: dict[str, Any] | None = None, **options: Any) -> Any:
        """Run the program to the end and return its `Result` (see `run_async` for the options).

        It starts an event loop of its own; inside `async def` code, `await program.run_async(…)`."""
        if not _loop_running():
            return asyncio.run(self.run_async(inputs, **options))
        raise UsageError("Program.run() starts its own event loop, and one is already running here: "
                         "use `await program.run_async(...)` inside async code")

    def run_many(self, rows: Iterable[dict[str, Any]], *, concurrency: int = 8, ordered: bool = True,
                 **options: Any) -> list[Any]:
        """Run once per row of inputs, at most `concurrency` rows at once: a `RowResult` per row (in order,
        unless `ordered=False`). Every row is checked before the first request; a bad or failed row is a
        result, not an exception. `options` are those of `run`."""
        if _loop_running():
            raise UsageError("Program.run_many() starts its own event loop, and one is already running here: "
                             "use `async for r in program.run_many_async(...)` inside async code")

        async def collect() -> list[Any]:
            return [r async for r in self.run_many_async(rows, concurrency=concurrency, ordered=ordered, **options)]

        return asyncio.run(collect())

    def run_many_async(self, rows: Iterable[dict[str, Any]], *, concurrency: int = 8, ordered: bool = True,
                       **options: Any) -> AsyncIterator[Any]:
        """`run_many` as an async iterator of `RowResult`s."""
        from parley.batch import run_rows

        return run_rows(self, enumerate((dict(row) for row in rows), start=1), concurrency=concurrency,
                        ordered=ordered, **options)

    async def run_async(
        self,
        inputs: dict[str, Any] | None = None,
        *,
        model: Any = None,
        human: Callable[[str, str], Any] | None = None,
        tools: dict[str, Callable[..., Any]] | None = None,
        on_event: Callable[[Any], None] | None = None,
        seed: int | None = None,
        allow_code: bool = False,
        stream: Callable[[str, str], None] | None = None,
        limits: dict[str, float] | None = None,
        base_url: str | None = None,
        store: Any = None,
        cache: str = "auto",
        resume: str | None = None,
        replay: str | None = None,
        force: bool = False,
        max_retries: int | None = None,
        timeout: float | None = None,
        run_id: str | None = None,
    ) -> Any:
        """Run the program: `inputs` by name; `model` a model client (or "scripted:FILE") used for
        every agent; `human` answers people's turns as (agent, prompt) → reply; `tools` replaces
        Python tools by name; `on_event` sees every event; `allow_code` lets executor agents run code.
        `stream` receives replies as they are written, as (agent, text piece); `limits` tightens
        the script's budgets: {"turns": …, "tokens": …, "cost": dollars, "seconds": …}; `base_url`
        is the OpenAI-compatible server for a `model` given by id.

        `store` (a `runtime.store.Store`) records the run: its events, a journal of every call,
        and the response cache, used as `cache` says: "auto" (temperature 0 or a seed), "on", "off".
        `resume` (a run id) re-executes a stored run that stopped, serving every call it made from
        its journal, and refuses if the script or plan changed unless `force`; `replay` runs a
        stored run from its record alone, failing on any call that differs. Both use the run's
        recorded inputs. `max_retries` and `timeout` (seconds per try) replace every OpenAI-compatible
        model's own for this run. `run_id` is the id a new run is recorded under (default: a fresh
        one), for a host that notes it before the run starts, as a batch does. Raises `RunError` when
        the run fails."""
        from parley.runtime.executor import Executor
        from parley.runtime.recording import OfflineModel, RecordError, Recording, replay_journal
        from parley.runtime.secrets import name_secrets, plan_secret_names
        from parley.runtime.store import StoreError

        if (resume or replay) and store is None:
            raise UsageError("resume and replay read the run store: pass store=Store(path)")
        if resume and replay:
            raise UsageError("a run is either resumed or replayed, not both")
        if run_id is not None and (store is None or resume or replay):
            raise UsageError("run_id names a new run in the store: pass store=, and neither resume nor replay")
        if (resume or replay) and inputs:
            raise UsageError("a resumed or replayed run takes the inputs it was recorded with; give none")
        unknown = sorted(set(tools or {}) - {t.name for t in self.plan.tools})
        if unknown:
            known = ", ".join(t.name for t in self.plan.tools) or "none"
            raise UsageError(f"run(tools=…) names {', '.join(unknown)}, which the script does not import "
                             f"(its Python tools: {known})")
        name_secrets(plan_secret_names(self.plan))  # its models' `api_key_env` variables are masked everywhere
        recording = journal = None
        try:
            if replay:
                journal, inputs, recorded_model = replay_journal(store, replay)
                client, model_id = (OfflineModel(), model_id_of(recorded_model)) if recorded_model else (None, None)
                cache = "off"
            else:
                if resume:
                    recording = Recording.resume(store, resume, self.plan, force)
                    inputs = recording.inputs
                    model = model if model is not None else recording.model
                    base_url = base_url or recording.base_url
                client, model_id = resolve_model(model, base_url)
                if recording is not None:  # a resume that got this far starts: only now is the run `running`
                    recording.restart(self.plan)
                if store is not None and recording is None:
                    recording = Recording.start(store, self.plan, dict(inputs or {}),
                                                model if isinstance(model, str) else None, base_url, self.path,
                                                run_id)
                journal = recording.journal if recording is not None else None
        except RecordError as error:
            raise UsageError(str(error)) from None
        owned = client if isinstance(model, str) else None  # a client made here is closed here

        broken: list[BaseException] = []  # once the host's callback raised, it is not called again (its
        # failure stops the run; calling it with `run_end` would only raise again and hide the first failure)

        def observe(event: Any) -> None:
            if recording is not None:
                recording.on_event(event)
            if on_event is not None and not broken:
                try:
                    on_event(event)
                except Exception as error:
                    broken.append(error)
                    raise

        executor = Executor(self.plan, model=client, model_id=model_id, human=human, tools=tools,
                            on_event=observe, seed=seed, allow_code=allow_code, stream=stream, limits=limits,
                            store=store, cache=cache, journal=journal, offline=bool(replay),
                            run_id=recording.run_id if recording is not None else None,
                            module_folder=os.path.dirname(os.path.abspath(self.path)) if self.path else None,
                            request_options=_request_options(max_retries, timeout))
        try:
            result = await executor.run(inputs)
        except (RunError, HostError, InternalError) as failure:
            _end(recording, failure, executor.budget.summary())
            failure.result = executor.partial_result()
            raise
        except (asyncio.CancelledError, KeyboardInterrupt, SystemExit) as failure:
            _end(recording, failure, executor.budget.summary())
            raise
        except StoreError as failure:  # the run store failed under the run (damaged, full, read-only)
            with contextlib.suppress(StoreError):  # marking the run failed may fail the same way
                _end(recording, failure, executor.budget.summary())
            failure.result = executor.partial_result()  # type: ignore[attr-defined]
            raise
        except Exception as failure:  # nothing else is expected: a bug in Parley, kept as the cause
            _end(recording, failure, executor.budget.summary())
            raise InternalError(f"{type(failure).__name__}: {failure}", executor.partial_result()) from failure
        finally:
            close = getattr(owned, "close", None)
            if close is not None:
                await close()
        if recording is not None:
            recording.finish("done", result.usage)
        return result

    def plan_json(self) -> str:
        """The plan as JSON (the format `parley plan --format json` prints)."""
        from parley.compiler.serialize import plan_to_json

        return plan_to_json(self.plan)


def compile(source: str | bytes | os.PathLike[str], filename: str | None = None) -> Program:
    """Compile a script given as text (str or bytes) or as a path (`pathlib.Path`).

    Raises `ScriptError`, which renders every diagnostic, when the script has errors.
    """
    from parley.compiler import compile_path, compile_source

    if isinstance(source, os.PathLike):
        result = compile_path(source, filename if filename is not None else os.fspath(source))
    elif isinstance(source, str | bytes):
        result = compile_source(source, filename or "<script>")
    else:
        raise UsageError(f"parley.dsl.compile takes script text or a path, not {type(source).__name__}")
    return _program(result)


def load(path: str | os.PathLike[str]) -> Program:
    """Compile the script file at `path`, or read the plan file (`*.json`, from `parley plan --format json`)."""
    from parley._plan_files import is_plan_file, load_plan_file

    file = Path(path)
    if not file.is_file():
        raise UsageError(f"no script at {os.fspath(path)}")
    if is_plan_file(file):
        return load_plan_file(file)
    return compile(file, os.fspath(path))


def _program(result: CompileResult) -> Program:
    if result.plan is None:
        raise ScriptError(result.diagnostics, result.sources)
    return Program(result.plan, result.diagnostics, result.sources)


def _loop_running() -> bool:
    from parley.runtime.recording import loop_running

    return loop_running()


def _end(recording: Any, failure: BaseException, usage: dict[str, Any]) -> None:
    """Mark a stopped run in the store: budget spent, failed, or interrupted (Ctrl-C, cancelled)."""
    if recording is None:
        return
    if isinstance(failure, RunError):
        recording.finish("budget" if failure.kind is FailureKind.BUDGET else "failed", usage, str(failure))
    elif isinstance(failure, HostError | InternalError):
        recording.finish("failed", usage, str(failure).partition("\n")[0])
    elif isinstance(failure, asyncio.CancelledError | KeyboardInterrupt):
        recording.finish("interrupted", usage, "interrupted")
    else:
        recording.finish("failed", usage, f"{type(failure).__name__}: {failure}")


def _request_options(max_retries: int | None, timeout: float | None) -> dict[str, Any]:
    """A run's own `max_retries` and `timeout`, checked (they replace the models' options)."""
    if max_retries is not None and (isinstance(max_retries, bool) or not isinstance(max_retries, int)
                                    or max_retries < 0):
        raise UsageError(f"max_retries is a whole number, 0 or more, not {max_retries!r}")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float)
                                or not 0 < timeout < float("inf")):
        raise UsageError(f"timeout is a number of seconds above 0, not {timeout!r}")
    options = {"max_retries": max_retries, "timeout": timeout}
    return {name: value for name, value in options.items() if value is not None}


def model_id_of(model: str) -> str:
    """The model id requests carry for a run's `--model` (what `resolve_model` gives), without opening it."""
    if model.startswith("scripted:"):
        return "scripted"
    if model == "local":
        from parley.runtime.local_model import DEFAULT_NAME

        return DEFAULT_NAME
    if model.startswith("local:"):
        return Path(model.removeprefix("local:")).stem
    return model.removeprefix("openai:")


def resolve_model(model: Any, base_url: str | None = None) -> tuple[Any, str | None]:
    """A run's `model` option: None (the script's own models), a client, "scripted:FILE",
    "local" / "local:FILE.gguf" (the embedded model, or any GGUF file, run in-process),
    or a model id / "openai:MODEL" for the OpenAI-compatible server in the environment."""
    if model is None:
        return None, None
    if not isinstance(model, str):
        if not callable(getattr(model, "complete", None)):
            raise UsageError("run(model=…) takes a model client (with `async complete(request, on_token)`), "
                             f'"scripted:FILE" or a model id, not {type(model).__name__}')
        return model, None
    from parley.runtime.models import ModelError
    from parley.runtime.scripted import ScriptedModel

    try:
        if model.startswith("scripted:"):
            return ScriptedModel.from_file(model.removeprefix("scripted:")), "scripted"
        if model == "local" or model.startswith("local:"):
            from parley.runtime.local_model import LocalModel

            local = LocalModel(model.removeprefix("local:") if model != "local" else None)
            return local, local.name
        from parley.runtime.openai_client import OpenAIModel  # `openai` is slow to import: only when used

        model_id = model.removeprefix("openai:")
        return OpenAIModel(base_url=base_url), model_id
    except ModelError as error:
        raise UsageError(str(error)) from None


def run(source: str | os.PathLike[str], inputs: dict[str, Any] | None = None, **options: Any) -> Any:
    """Load the script file at `source` and run it to the end: `load(source).run(inputs, **options)`."""
    return load(source).run(inputs, **options)
