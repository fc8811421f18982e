"""`parley fmt FILE…` on files: rewrite in place, `--check`, `--diff`, and what to print.

Files are compared byte for byte with their formatted text, so a BOM or
Windows line endings count as a change. A file is replaced atomically (a
temporary file beside it, then a rename), keeping its permissions, so an
interrupted run never leaves half a script. `-` formats standard input to
standard output. Status lines go to stderr, diffs and formatted text to
stdout.

Exit status: 0 when nothing was wrong (with `--check`: nothing to change),
1 when a file has syntax errors or cannot be read or written, or, with
`--check`, would change.
"""

from __future__ import annotations

import difflib
import os
import sys
import tempfile
from pathlib import Path

import attrs
import click

from parley.dsl.diagnostics import render
from parley.dsl.errors import InternalError
from parley.dsl.fmt import format_parsed
from parley.dsl.parser import MAX_SOURCE_BYTES, parse_source

STDIN = "-"


@attrs.frozen
class Outcome:
    """One file: its bytes as read and its formatted text, or the reason it was not formatted."""

    name: str
    original: bytes = b""
    formatted: str | None = None
    error: str = ""

    @property
    def changed(self) -> bool:
        return self.formatted is not None and self.formatted.encode("utf-8") != self.original


def run(files: tuple[str, ...], check: bool, diff: bool, color: bool) -> int:
    """Format `files` as `parley fmt` does; the exit status."""
    counts = {"changed": 0, "unchanged": 0, "failed": 0}
    for name in files:
        outcome = _format_file(name, color)
        if outcome.error or outcome.formatted is None:
            counts["failed"] += 1
            click.echo(outcome.error, err=True)
            continue
        counts["changed" if outcome.changed else "unchanged"] += 1
        if diff and outcome.changed:
            click.echo(unified_diff(outcome), nl=False)
        if name == STDIN and not check and not diff:
            click.echo(outcome.formatted, nl=False)
        elif outcome.changed and check:
            click.echo(f"would reformat {name}", err=True)
        elif outcome.changed and not diff and name != STDIN:
            problem = _write(Path(name), outcome.formatted)
            if problem:
                counts["changed"] -= 1
                counts["failed"] += 1
                click.echo(f"error: cannot write {name}: {problem}", err=True)
                continue
            click.echo(f"reformatted {name}", err=True)
    click.echo(summary(counts, dry_run=check or diff), err=True)
    return 1 if counts["failed"] or (check and counts["changed"]) else 0


def _format_file(name: str, color: bool) -> Outcome:
    try:
        if name == STDIN:
            data = sys.stdin.buffer.read()
            result = parse_source(data, "<stdin>")
        else:
            with open(name, "rb") as stream:
                data = stream.read(MAX_SOURCE_BYTES + 1)  # a larger file is refused by the parser
            result = parse_source(data, name)
    except OSError as error:
        return Outcome(name, error=f"error: cannot read {name}: {error.strerror}")
    if not result.ok:
        blocks = [render(d, result.source, color) + "\n" for d in result.diagnostics]
        return Outcome(name, data, error="\n".join(blocks) + f"\nerror: {name} has syntax errors; not formatted")
    try:
        return Outcome(name, data, format_parsed(result))
    except InternalError as error:
        return Outcome(name, data, error=f"error: {error}")


def unified_diff(outcome: Outcome) -> str:
    """The change as a unified diff (`--- NAME` / `+++ NAME`), marking a missing final newline."""
    before = outcome.original.decode("utf-8").splitlines(keepends=True)
    after = (outcome.formatted or "").splitlines(keepends=True)
    lines = difflib.unified_diff(before, after, outcome.name, outcome.name)
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def _write(path: Path, text: str) -> str:
    """Replace the file atomically; "" on success, else why it failed."""
    target = Path(os.path.realpath(path))
    try:
        mode = target.stat().st_mode & 0o7777
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as error:
        return error.strerror or str(error)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(text.encode("utf-8"))
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        return error.strerror or str(error)
    return ""


def summary(counts: dict[str, int], dry_run: bool) -> str:
    """One line: how many files changed (or would), stayed as they were, or failed."""
    def files(number: int) -> str:
        return f"{number} file{'s' if number != 1 else ''}"

    parts = []
    if counts["changed"]:
        parts.append(f"{files(counts['changed'])} {'would be ' if dry_run else ''}reformatted")
    if counts["unchanged"]:
        parts.append(f"{files(counts['unchanged'])} {'already formatted' if dry_run else 'left unchanged'}")
    if counts["failed"]:
        parts.append(f"{files(counts['failed'])} with errors")
    return ", ".join(parts) or "no files"
