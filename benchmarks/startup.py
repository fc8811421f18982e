"""Start-up: how long a fresh `parley` process takes, next to a bare `python -c pass`, in one run.

Each command runs in a fresh process, bytecode already cached (one untimed
warm-up of each first), the commands interleaved round by round so that noise
on a shared machine hits them alike. For each: the median wall time and the
median CPU time (user + system, from the child's resource usage), each also
as a ratio to `python -c pass` measured in the same rounds. Targets (wall):
`parley --version` <= 80 ms, `parley check` of a one-line script <= 150 ms,
`parley run` of a one-ask script on the scripted model <= 250 ms.

    python benchmarks/startup.py [--runs N] [--imports]

The `parley` measured is the one installed beside the Python that runs this
script. Measure a regular install, as users get it (`python3 -m venv v &&
v/bin/pip install . && v/bin/python benchmarks/startup.py`): an editable
install (`pip install -e .`) adds its import hook to every process, about
10 ms here, `python -c pass` included.

`--imports` adds, for each command, the modules whose import cost the most
(cumulative, from one `python -X importtime` run): where to look next.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PYTHON = sys.executable
PARLEY = Path(PYTHON).parent / "parley"

SCRIPT = 'agent greeter:\n    """You greet people."""\nx = @greeter Say hello to Ada.\nprint x\n'
RULES = {"rules": [{"contains": "hello", "reply": "Hello, Ada!"}], "default": "Hi."}

#: What each figure must reach (wall seconds), by row name.
TARGETS = {"parley --version": 0.080, "parley check (one line)": 0.150, "parley run (scripted)": 0.250}


def commands(folder: Path) -> dict[str, list[str]]:
    """The commands measured, by row name; `parley` is the installed console script beside this Python."""
    parley = [str(PARLEY)] if PARLEY.is_file() else [PYTHON, "-m", "parley"]
    one_line, script, rules = folder / "one.agent", folder / "ask.agent", folder / "ask.rules.json"
    one_line.write_text('print "hello"\n', encoding="utf-8")
    script.write_text(SCRIPT, encoding="utf-8")
    rules.write_text(json.dumps(RULES), encoding="utf-8")
    return {
        "python -c pass": [PYTHON, "-c", "pass"],
        "python -c 'import parley'": [PYTHON, "-c", "import parley"],
        "parley --version": [*parley, "--version"],
        "parley check (one line)": [*parley, "check", str(one_line)],
        "parley run (scripted)": [*parley, "run", str(script), "--model", f"scripted:{rules}", "--quiet"],
        "parley run (scripted) --no-store": [*parley, "run", str(script), "--model", f"scripted:{rules}", "--quiet",
                                             "--no-store"],
    }


def environment(folder: Path) -> dict[str, str]:
    """The caller's environment without Python's or Parley's own variables; caches and the store in `folder`."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PARLEY", "OTEL_"))}
    return kept | {"XDG_CACHE_HOME": str(folder / "cache"), "NO_COLOR": "1"}


def once(command: list[str], folder: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one fresh process running `command` (which must succeed)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    ran = subprocess.run(command, cwd=folder, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if ran.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({ran.returncode}):\n{ran.stderr.decode()}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(runs: int, folder: Path) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) of each command over `runs` interleaved rounds, after one warm-up round."""
    env = environment(folder)
    measured = commands(folder)
    for command in measured.values():
        once(command, folder, env)  # writes bytecode, the grammar cache and the run store once
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in measured}
    for _ in range(runs):
        for name, command in measured.items():
            samples[name].append(once(command, folder, env))
    return {name: (statistics.median(w for w, _ in values), statistics.median(c for _, c in values))
            for name, values in samples.items()}


def costliest_imports(command: list[str], folder: Path, count: int = 8) -> list[tuple[str, float]]:
    """The top-level imports of one run of `command` (its Python with -X importtime), costliest first."""
    if command[0] == str(PARLEY):
        command = [PYTHON, "-m", "parley", *command[1:]]
    ran = subprocess.run([command[0], "-X", "importtime", *command[1:]], cwd=folder,
                         env=environment(folder), capture_output=True, text=True, check=False)
    rows = []
    for line in ran.stderr.splitlines():
        if line.startswith("import time:") and not line.startswith("import time: self"):
            _, cumulative, name = line[len("import time:"):].split("|")
            if not name.startswith("  "):  # top level: " name", nested ones are indented further
                rows.append((name.strip(), int(cumulative) / 1e6))
    return sorted(rows, key=lambda row: -row[1])[:count]


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--runs", type=int, default=9, help="fresh processes per command (default 9, at least 7)")
    options.add_argument("--imports", action="store_true", help="show each command's costliest imports")
    args = options.parse_args()
    runs = max(args.runs, 7)
    with tempfile.TemporaryDirectory(prefix="parley-startup-") as name:
        folder = Path(name)
        medians = measure(runs, folder)
        wall0, cpu0 = medians["python -c pass"]
        print(f"fresh processes, bytecode cached, median of {runs} interleaved rounds; "
              f"{Path(PYTHON)} (Python {sys.version.split()[0]})")
        titles = ("command", "wall", "x pass", "CPU", "x pass", "target", "")
        rows = [titles]
        for label, (wall, cpu) in medians.items():
            target = TARGETS.get(label)
            rows.append((label, f"{wall * 1000:.0f} ms", f"{wall / wall0:.2f}x", f"{cpu * 1000:.0f} ms",
                         f"{cpu / cpu0:.2f}x", f"<= {target * 1000:.0f} ms" if target else "",
                         ("met" if wall <= target else "NOT met") if target else ""))
        widths = [max(len(row[i]) for row in rows) for i in range(len(titles))]
        for row in rows:
            print("  ".join(cell.ljust(width) if i == 0 else cell.rjust(width)
                            for i, (cell, width) in enumerate(zip(row, widths))).rstrip())
        if args.imports:
            for label, command in commands(folder).items():
                if label == "python -c pass":
                    continue
                costly = ", ".join(f"{name} {seconds * 1000:.0f}" for name, seconds in costliest_imports(command,
                                                                                                    folder))
                print(f"\n{label}: costliest imports (ms, cumulative, one run): {costly}")


if __name__ == "__main__":
    main()
