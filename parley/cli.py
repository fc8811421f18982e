"""The `parley` command line."""

from __future__ import annotations

import errno
import gc
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from parley import __version__
from parley._batch_command import batch
from parley._store_commands import open_store, runs, show, store_flag, stored_run, trace, use_color

if TYPE_CHECKING:
    from parley.dsl.diagnostics import Diagnostic


class _Commands(click.Group):
    """The command group, reporting whatever escapes a command by whose fault it is.

    A host's code (`HostError`) and Parley's own bugs (`InternalError`, or any exception nobody
    expected) end in one clear line and their exit status; `--debug` adds the traceback."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """The `parley` process itself (tests run commands through click's runner, which calls `main`)."""
        try:
            return self.main(*args, **kwargs)
        finally:
            # The process ends now: what it made is freed by the interpreter's shutdown anyway. Frozen,
            # the shutdown's last cyclic collection skips it instead of walking it all once more (20–40 ms
            # of every command). Outputs are closed by the commands themselves, never left to the collector.
            gc.freeze()

    def invoke(self, ctx: click.Context) -> Any:
        try:
            value = super().invoke(ctx)
        except (click.exceptions.Exit, SystemExit) as stop:
            _said_lost_output(stop.exit_code if isinstance(stop, click.exceptions.Exit) else stop.code)
            raise
        except (click.exceptions.ClickException, click.exceptions.Abort):
            raise  # click reports these itself
        except OSError as error:
            if error.errno == errno.EPIPE:
                raise  # a closed stdout pipe: click ends quietly
            _report_failure(error, debug=bool(ctx.params.get("debug")))
        except Exception as error:  # noqa: BLE001 - the last line of defence: report, never a bare traceback
            _report_failure(error, debug=bool(ctx.params.get("debug")))
        _said_lost_output(0)
        return value


def _said_lost_output(status: Any) -> None:
    """Say that stdout or stderr could not be written (a full disk, an I/O error; not a reader gone away),
    and fail a command that would have succeeded."""
    from parley._output import lost_output

    lost = lost_output()
    if lost is None:
        return
    name, error = lost
    if name == "stdout":
        click.echo(click.style("error: ", fg="red", bold=True)
                   + f"cannot write to stdout: {error.strerror or error}; what was written from then on is lost",
                   err=True)
    if status in (0, None):
        sys.exit(1)


def _report_failure(error: BaseException, debug: bool) -> NoReturn:
    """End the command for `error`: one line saying whose it is, the traceback with --debug."""
    from parley.dsl.errors import InternalError, ParleyError

    if isinstance(error, OSError):  # the system refused a read or a write: not a bug, and not the script's
        where = f" ({error.filename})" if error.filename else ""
        _echo_failure(f"{error.strerror or error}{where}", error if debug else None)
        sys.exit(1)
    shown = error if isinstance(error, ParleyError) else InternalError(f"{type(error).__name__}: {error}")
    _echo_failure(shown, error if debug else None)
    sys.exit(shown.exit_code)


def _echo_failure(error: BaseException | str, traceback_of: BaseException | None = None) -> None:
    """`error: …` on stderr (secrets masked), after the traceback of `traceback_of` when given (--debug)."""
    import traceback

    from parley.runtime.secrets import redact

    if traceback_of is not None:
        click.echo(redact("".join(traceback.format_exception(traceback_of))), err=True)
    click.echo(click.style("error: ", fg="red", bold=True) + redact(str(error)), err=True)


def _debugging() -> bool:
    """Whether `parley --debug` (or PARLEY_DEBUG) asked for tracebacks."""
    context = click.get_current_context(silent=True)
    return bool(context is not None and context.find_root().params.get("debug"))


@click.group(cls=_Commands, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="parley")
@click.option("--debug", is_flag=True, envvar="PARLEY_DEBUG",
              help="Show the traceback of a failure in the host's code or in Parley itself (also PARLEY_DEBUG=1).")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Parley: a language for conversations between LLM agents, humans and tools.

    With no command at a terminal, starts the REPL (`parley repl`).
    """
    from parley._output import masked_output

    ctx.with_resource(masked_output())  # secrets masked in whatever any command writes; a closed pipe survived
    if os.environ.get("NO_COLOR") or os.environ.get("FORCE_COLOR", "") not in ("", "0"):
        ctx.color = not os.environ.get("NO_COLOR")  # what click writes follows NO_COLOR, FORCE_COLOR (use_color)
    if ctx.invoked_subcommand is None:
        if sys.stdin.isatty() and sys.stdout.isatty():  # piped, it stays predictable: help, not a session
            ctx.invoke(repl)
        else:
            click.echo(ctx.get_help())


def _scripts_in(paths: tuple[str, ...]) -> tuple[str, ...]:
    """The scripts named: files as they are, folders as every `.agent` file below them (hidden folders skipped)."""
    found: list[str] = []
    for path in paths:
        if path != "-" and Path(path).is_dir():
            below = sorted(p for p in Path(path).rglob("*.agent")
                           if not any(part.startswith(".") and part not in (".", "..")
                                      for part in p.relative_to(path).parts))
            if not below:
                raise click.UsageError(f"no .agent files in {path}")
            found += [str(p) for p in below]
        else:
            found.append(path)
    return tuple(found)


def _model_options(command: Callable[..., None]) -> Callable[..., None]:
    """`--model` and `--base-url`, as `run` and `repl` take them."""
    command = click.option(
        "--base-url", default=None,
        help="With --model MODEL-ID: the OpenAI-compatible server (default: OPENAI_BASE_URL, else OpenAI).")(command)
    return click.option(
        "--model", "model", default=None,
        help="Use this model for every agent: local (the embedded SmolLM2-135M), local:FILE.gguf, "
             "scripted:RULES.json, or a model id on the OpenAI-compatible server of OPENAI_BASE_URL / "
             "OPENAI_API_KEY.")(command)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print diagnostics as JSON (for editors).")
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
def check(files: tuple[str, ...], as_json: bool, strict: bool) -> None:
    """Check scripts (syntax, names, types, bounds) without running them; a folder: every .agent file in it.

    Exit status: 0 when clean, 1 when a script has errors (or warnings with
    --strict), 2 on wrong usage.
    """
    from parley.compiler import compile_path
    from parley.dsl.diagnostics import render, tally

    files = _scripts_in(files)
    found: list[Diagnostic] = []
    color = use_color(sys.stdout)
    blocks: list[str] = []
    code: dict[str, list[str]] = {}  # the scripts whose executor agents need --allow-code to run
    for file in files:
        result = compile_path(Path(file), display=file)
        if result.plan is not None and result.plan.code_agents():
            code[file] = [a.name for a in result.plan.code_agents()]
        for diagnostic in result.diagnostics:
            if diagnostic not in found:
                found.append(diagnostic)
                blocks.append(render(diagnostic, result.sources.get(diagnostic.span.file), color))
    errors, warnings = tally(found)  # the notes ending capped lists count what they left out
    if as_json:
        payload = {
            "diagnostics": [d.to_json() for d in found],
            "errors": errors,
            "warnings": warnings,
            "files": len(files),
            "needs_allow_code": code,
        }
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        for block in blocks:
            click.echo(block + "\n")
        for file, agents in code.items():
            click.echo(f"note: {file}: executor agent{'s' if len(agents) > 1 else ''} "
                       f"{', '.join(f'`{a}`' for a in agents)} run{'' if len(agents) > 1 else 's'} code: "
                       "`parley run` needs --allow-code")
        click.echo(_summary(len(files), errors, warnings))
    if errors or (strict and warnings):
        sys.exit(1)


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "output_format", type=click.Choice(["tree", "json", "mermaid", "dot"]), default="tree",
              show_default=True, help="How to show the plan.")
@click.option("--verbose", is_flag=True, help="In the tree, show what each step reads and writes.")
def plan(file: str, output_format: str, verbose: bool) -> None:
    """Compile a script and show its conversation plan (FILE may be a plan file, `*.json`, too).

    `--format json` writes the plan file that `parley run PLAN.json` runs without the script.
    """
    from parley._plan_files import is_plan_file
    from parley.compiler import compile_path, draw
    from parley.compiler.serialize import plan_to_json
    from parley.dsl.diagnostics import render

    if is_plan_file(file):
        shown = _load(file).plan
    else:
        result = compile_path(Path(file), display=file)
        color = use_color(sys.stderr)
        for diagnostic in result.diagnostics:
            click.echo(render(diagnostic, result.sources.get(diagnostic.span.file), color) + "\n", err=True)
        if result.plan is None:
            sys.exit(1)
        shown = result.plan
    if output_format == "json":
        click.echo(plan_to_json(shown))
    elif output_format == "mermaid":
        click.echo(draw.plan_mermaid(shown))
    elif output_format == "dot":
        click.echo(draw.plan_dot(shown))
    else:
        click.echo(draw.plan_tree(shown, verbose=verbose))


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, allow_dash=True))
@click.option("--check", is_flag=True, help="Change nothing; exit 1 if a file would be reformatted.")
@click.option("--diff", is_flag=True, help="Change nothing; print what would change as a unified diff.")
def fmt(files: tuple[str, ...], check: bool, diff: bool) -> None:
    """Rewrite scripts in the canonical layout (a folder: every .agent file in it; `-`: stdin to stdout).

    Exit status: 0 when done (or, with --check, nothing to change), 1 when a
    script has syntax errors or, with --check, would change, 2 on wrong usage.
    """
    from parley._fmt_files import run as format_files

    sys.exit(format_files(_scripts_in(files), check=check, diff=diff, color=use_color(sys.stderr)))


@main.command(context_settings={"ignore_unknown_options": False})
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False))
@click.argument("assignments", nargs=-1)
@_model_options
@click.option("--quiet", is_flag=True, help="Show only what the script prints.")
@click.option("--json", "as_json", is_flag=True,
              help="Print how the run ended as one JSON object on stdout (outputs, usage, error), failed or not.")
@click.option("--trace", type=click.Path(dir_okay=False, writable=True), help="Write every event to FILE as JSONL.")
@click.option("--otel/--no-otel", "otel", default=None,
              help="Send OpenTelemetry spans (default: when OTEL_* variables name an exporter or endpoint).")
@click.option("--seed", type=int, default=None, help="Seed for `select random` groups.")
@click.option("--allow-code", is_flag=True, help="Let executor agents run the code they are sent.")
@click.option("--max-turns", type=click.IntRange(min=1), help="Stop after this many agent turns.")
@click.option("--max-tokens", type=click.IntRange(min=1), help="Stop after this many tokens.")
@click.option("--max-cost", type=click.FloatRange(min=0), help="Stop after spending this many dollars.")
@click.option("--max-time", type=click.FloatRange(min=0), help="Stop after this many seconds.")
@click.option("--store", "store_path", type=click.Path(dir_okay=False), default=None,
              help="The run store (default: .parley/parley.db, or PARLEY_STORE).")
@click.option("--no-store", is_flag=True, help="Keep this run in memory only.")
@click.option("--cache/--no-cache", "cache", default=None,
              help="Answer identical model requests from the store (default: only at temperature 0 or with a seed).")
@click.option("--resume", "resume", metavar="RUN_ID", default=None,
              help="Finish a stopped run: calls it made come from its journal, the rest run live.")
@click.option("--replay", "replay", metavar="RUN_ID", default=None,
              help="Run again from a recorded run alone (no network); any call that differs is an error.")
@click.option("--force", is_flag=True, help="With --resume: resume even though the script changed.")
@click.option("--max-retries", type=click.IntRange(min=0), default=None,
              help="Retry a failed model request (429, 5xx, timeout) this many times (default: the model's, else 2).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True, max=1e9), default=None,
              help="Seconds each model request may take (default: the model's `timeout`, else 60).")
def run(file: str | None, assignments: tuple[str, ...], model: str | None, base_url: str | None, quiet: bool,
        as_json: bool, trace: str | None, otel: bool | None, seed: int | None, allow_code: bool,
        max_turns: int | None, max_tokens: int | None, max_cost: float | None, max_time: float | None, store_path: str | None,
        no_store: bool, cache: bool | None, resume: str | None, replay: str | None, force: bool,
        max_retries: int | None, timeout: float | None) -> None:
    """Run a script: parley run FILE [name=value …], or parley run --resume RUN_ID.

    FILE is a script, or a plan file (`*.json`, from `parley plan FILE --format json`), which runs
    without its script. A stored run whose script is gone resumes and replays from the plan it keeps.

    Exit status: 0 done, 1 script or plan error (or a --trace not written), 2 usage, a bad input or an
    unusable run store, 3 run failure (the host's code raising included), 4 budget spent, 70 a bug in
    Parley, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
    """
    from parley.console import Console
    from parley.dsl.errors import HostError, InternalError, RunError, UsageError
    from parley.runtime.store import StoreError

    inputs = _inputs(assignments)
    if (resume or replay) and no_store:
        raise click.UsageError("--resume and --replay read the run store; drop --no-store")
    store = open_store(store_path, no_store)
    program = _program_to_run(file, resume or replay, store)
    if program.warnings and not quiet:
        click.echo(program.render_warnings(use_color(sys.stderr)) + "\n", err=True)
    console = Console(quiet=quiet or as_json, color=use_color(sys.stderr), prints_to_stderr=as_json, live=True)
    from parley._trace_file import TraceFile

    trace_file = TraceFile.open(trace, stored=not no_store) if trace else None
    from parley.otel import for_command

    spans = for_command(otel)  # live OpenTelemetry spans (docs/observability.md), or None
    run_id: list[str] = []

    def on_event(event: object) -> None:
        if event.kind == "run_start" and event.data.get("run"):  # type: ignore[attr-defined]
            run_id.append(event.data["run"])  # type: ignore[attr-defined]
        console(event)
        if trace_file is not None:
            trace_file.write(event)
        if spans is not None:
            spans(event)

    from parley._signals import Terminated, stop_on_sigterm

    restore_sigterm = stop_on_sigterm()
    try:
        limits = {"turns": max_turns, "tokens": max_tokens, "cost": max_cost, "seconds": max_time}
        result = program.run(inputs, model=model, human=console.ask, on_event=on_event, seed=seed,
                             allow_code=allow_code, stream=console.token, base_url=base_url,
                             store=store,
                             cache="auto" if cache is None else ("on" if cache else "off"),
                             limits={k: v for k, v in limits.items() if v is not None},
                             resume=resume, replay=replay, force=force, max_retries=max_retries, timeout=timeout)
    except UsageError as error:
        raise click.UsageError(str(error)) from None
    except (RunError, HostError, InternalError, StoreError) as error:
        console.end_stream()
        debug = _debugging() and (not isinstance(error, RunError | StoreError) or error.__cause__ is not None)
        _echo_failure(error, error if debug else None)
        partial = getattr(error, "result", None)  # a store that failed before the run began has none
        usage = partial.usage if partial is not None else {}
        console.usage(usage) if usage else None
        if run_id and not no_store and error.exit_code != 2:
            click.echo(f"resume with: parley run --resume {run_id[0]}" + store_flag(store_path), err=True)
        if as_json:  # stdout still gets the one JSON object, saying how the run ended
            from parley._envelope import echo_failure
            echo_failure(error, error.exit_code, run_id[0] if run_id else None)
        sys.exit(error.exit_code)
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM (`Terminated`)
        console.end_stream()
        said = "terminated" if isinstance(stop, Terminated) else "interrupted"
        click.echo(said + (f"; resume with: parley run --resume {run_id[0]}{store_flag(store_path)}"
                           if run_id and not no_store else ""), err=True)
        if as_json:
            from parley._envelope import echo_failure
            echo_failure(stop, getattr(stop, "exit_code", 130), run_id[0] if run_id else None)
        sys.exit(getattr(stop, "exit_code", 130))
    finally:
        restore_sigterm()
        if trace_file is not None:
            trace_file.close()
        if spans is not None:
            spans.close(sys.exc_info()[1])  # how the run stopped; then flushed and shut down
    console.usage(result.usage, None if no_store else result.run_id)
    if not as_json:
        from parley._envelope import shown_output

        shown = shown_output(result)
        click.echo(shown) if shown is not None else None
    if as_json:
        from parley._envelope import echo_result

        echo_result(result, 1 if trace_file is not None and trace_file.failure else 0)
    if trace_file is not None and trace_file.failure:
        sys.exit(1)  # the run worked, its trace was not written (said when it failed)


def _inputs(assignments: tuple[str, ...]) -> dict[str, str]:
    inputs = {}
    for assignment in assignments:
        name, equals, value = assignment.partition("=")
        if not equals or not name.isidentifier():
            raise click.UsageError(f"inputs are written name=value, not {assignment!r}")
        inputs[name] = value
    return inputs


def _program_to_run(file: str | None, run_id: str | None, store) -> Any:  # type: ignore[no-untyped-def]
    """The program to run: FILE's, or that of the resumed or replayed run (its script, or plan file, while
    it is there; else the plan its record keeps). A script or plan with errors ends the command (status 1)."""
    if run_id is None:
        if file is None:
            raise click.UsageError("give the script to run: parley run FILE [name=value …]")
        return _load(file)
    found = stored_run(store, run_id)
    recorded = found["script_path"] or found["script"]
    there = Path(recorded).is_file()
    if file is not None and os.path.abspath(file) != os.path.abspath(recorded):
        if there:
            raise click.UsageError(f"run {found['id']} was of {found['script']}, not {file}")
        moved = _load(file)  # the script moved here: if it is the same script, the run goes on with its plan
        if moved.plan.source_sha256 != found["script_sha256"] or moved.path is not None:
            return moved  # a plan file, or another script (which a resume refuses unless --force)
        return _stored_program(store, found["id"], os.path.abspath(file)) or moved
    if there:
        return _load(str(found["script"]) if Path(found["script"]).resolve() == Path(recorded).resolve()
                     else str(recorded))
    program = _stored_program(store, found["id"], recorded)
    if program is None:
        raise click.UsageError(f"run {found['id']} was of {recorded}, which is not there any more (and its record "
                               "keeps no plan to run instead: it was made by an older Parley)")
    click.echo(f"{recorded} is not there any more: running the plan kept with run {found['id']}", err=True)
    return program


def _stored_program(store, run_id: str, script_path: str) -> Any:  # type: ignore[no-untyped-def]
    """The program of the plan the run keeps (its modules found from `script_path`'s folder), or None."""
    from parley._plan_files import stored_program
    from parley.dsl.errors import PlanError

    try:
        return stored_program(store, run_id, script_path)
    except PlanError as error:
        _plan_error(error)


def _load(file: str) -> Any:
    """The program of FILE (a script or a plan file); its errors end the command with status 1."""
    from parley.dsl.errors import PlanError, ScriptError, UsageError
    from parley.program import load

    try:
        return load(file)
    except ScriptError as error:
        click.echo(error.render(use_color(sys.stderr)), err=True)
        sys.exit(1)
    except PlanError as error:
        _plan_error(error)
    except UsageError as error:
        raise click.UsageError(str(error)) from None


def _plan_error(error: Exception) -> NoReturn:
    click.echo(click.style("error: ", fg="red", bold=True) + str(error), err=True)
    sys.exit(1)


@main.command()
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False))
@click.argument("assignments", nargs=-1)
@_model_options
@click.option("--run", "run_file", is_flag=True, help="Run FILE's statements too, not only load its declarations.")
@click.option("--allow-code", is_flag=True, help="Let executor agents run the code they are sent.")
@click.option("--echo", is_flag=True, help="Piped: show each entry after a prompt, so the output reads as a transcript.")
def repl(file: str | None, assignments: tuple[str, ...], model: str | None, base_url: str | None, run_file: bool,
         allow_code: bool, echo: bool) -> None:
    """Talk to agents interactively: parley repl [FILE [name=value …]].

    Each entry (a declaration, a statement, or a block closed by an empty
    line) is compiled against the session so far and run at once; `:help`
    lists the meta-commands, `:save FILE` writes the session as a script.
    Piped input runs its entries in order, without prompts. Exit status
    (piped): 0 when every entry worked, else that of the first that did not
    (1 error, 2 usage, 3 run failure, 4 budget spent, 130 interrupted).
    """
    from parley.dsl.errors import UsageError
    from parley.repl import start

    inputs = _inputs(assignments)
    try:
        status = start(file, model=model, base_url=base_url, run=run_file, allow_code=allow_code, inputs=inputs,
                       echo=echo)
    except UsageError as error:
        raise click.UsageError(str(error)) from None
    sys.exit(status)


@main.command()
def lsp() -> None:
    """Serve the Language Server Protocol on stdin/stdout, for editors (needs the `lsp` extra; docs/editors.md)."""
    from parley.lsp import serve

    serve()


def _summary(files: int, errors: int, warnings: int) -> str:
    checked = f"checked {files} file{'s' if files != 1 else ''}"
    if not errors and not warnings:
        return f"{checked}: no problems"
    parts = []
    if errors:
        parts.append(f"{errors} error{'s' if errors != 1 else ''}")
    if warnings:
        parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    return f"{checked}: {', '.join(parts)}"


for _command in (runs, show, trace, batch):
    main.add_command(_command)
