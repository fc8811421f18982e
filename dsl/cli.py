"""The `parley` command line."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from dsl.diagnostics import Diagnostic, Severity, render
from dsl.parser import parse_path


def _use_color(stream: object) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)()) and "NO_COLOR" not in os.environ


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="parley", prog_name="parley")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Parley: a language for conversations between LLM agents, humans and tools."""
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print diagnostics as JSON (for editors).")
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
def check(files: tuple[str, ...], as_json: bool, strict: bool) -> None:
    """Check scripts for errors without running them.

    Exit status: 0 when clean, 1 when a script has errors (or warnings with
    --strict), 2 on wrong usage.
    """
    found: list[Diagnostic] = []
    color = _use_color(sys.stdout)
    blocks: list[str] = []
    for file in files:
        result = parse_path(Path(file), display=file)
        found.extend(result.diagnostics)
        blocks.extend(render(d, result.source, color) for d in result.diagnostics)
    errors = sum(d.severity is Severity.ERROR for d in found)
    warnings = len(found) - errors
    if as_json:
        payload = {
            "diagnostics": [d.to_json() for d in found],
            "errors": errors,
            "warnings": warnings,
            "files": len(files),
        }
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        for block in blocks:
            click.echo(block + "\n")
        click.echo(_summary(len(files), errors, warnings))
    if errors or (strict and warnings):
        sys.exit(1)


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
