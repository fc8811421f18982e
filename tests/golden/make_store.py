"""Make the golden run store, tests/golden/runs.db, from scripted runs of greet.agent.

    python tests/golden/make_store.py

The store holds two runs of `greet.agent` against the scripted model of
`greet.rules.json` (no network): one `done`, one stopped by a budget (`--max-turns
1`). The tests copy it to a read-only folder and read it back with `parley runs`,
`show`, `trace` and `run --replay` (tests/test_store_damage.py). Make it again
when the store's schema changes (`runtime.store.SCHEMA_VERSION`): a store of an
older schema is migrated when it is opened writable, and refused read-only.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
STORE = HERE / "runs.db"


def parley(*args: str) -> subprocess.CompletedProcess[str]:
    """`parley ARGS…` in this folder, so that the runs record the script as `greet.agent`."""
    return subprocess.run([sys.executable, "-m", "parley", *args], cwd=HERE, capture_output=True, text=True,
                          env={**os.environ, "NO_COLOR": "1"}, check=False)


def main() -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{STORE}{suffix}").unlink(missing_ok=True)
    common = ["greet.agent", "name=Ada", "--model", "scripted:greet.rules.json", "--store", STORE.name]
    done = parley("run", *common)
    stopped = parley("run", *common, "--max-turns", "1")
    if done.returncode != 0 or stopped.returncode != 4:
        sys.exit(f"the runs did not end as they should (0 and 4): {done.returncode}, {stopped.returncode}\n"
                 f"{done.stderr}\n{stopped.stderr}")
    import sqlite3

    db = sqlite3.connect(STORE)  # the last connection to close folds the WAL into the file: one file to keep
    db.execute("VACUUM")
    db.close()
    print(f"{STORE}: {STORE.stat().st_size} bytes")
    print(parley("runs", "--store", STORE.name).stdout, end="")


if __name__ == "__main__":
    main()
