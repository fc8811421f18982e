"""Code an executor agent runs: the fenced blocks of a message, each in a subprocess with limits.

Each block runs with a time limit, in the agent's `workdir` (or a scratch
folder removed afterwards), with CPU, memory and file-size limits; its
output is cut to the last 8,000 characters.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable

import attrs

from parley.compiler import plan as p

_FENCED = re.compile(r"```(python|sh|bash)?[^\n]*\n(.*?)```", re.DOTALL)
OUTPUT_LIMIT = 8000


@attrs.frozen
class CodeRunner:
    """An executor agent's settings: the languages it runs, its time limit and working folder."""

    languages: tuple[str, ...] = ("python", "sh")
    timeout: float = 30.0
    folder: str | None = None

    @classmethod
    def of(cls, agent: p.AgentDecl) -> CodeRunner:
        settings, default = agent.settings, cls()  # what the script leaves out keeps the default
        return cls(settings.languages if settings.languages is not None else default.languages,
                   settings.timeout if settings.timeout is not None else default.timeout, settings.workdir)

    def blocks(self, message: str) -> tuple[list[tuple[str, str]], str | None]:
        """The blocks of `message` this runner runs, or why there is none (the reply to send instead)."""
        found = [(lang or "python", code) for lang, code in _FENCED.findall(message)]
        runs = [(lang, code) for lang, code in found
                if lang in self.languages or (lang == "bash" and "sh" in self.languages)]
        if runs:
            return runs, None
        refused = sorted({lang for lang, _ in found} - set(self.languages))
        if refused:
            return [], f"exit code: none (this executor runs {', '.join(self.languages)}, not {', '.join(refused)})"
        return [], f"exit code: none (no code block found; send code in ```{self.languages[0]} fences)"

    def run(self, language: str, code: str) -> tuple[int, str]:
        """One block in a subprocess with a time limit and a working folder; output capped."""
        command = [sys.executable, "-I", "-c", code] if language == "python" else ["sh", "-c", code]
        with tempfile.TemporaryDirectory(prefix="parley-exec-") as scratch:
            workdir = self.folder or scratch
            os.makedirs(workdir, exist_ok=True)
            try:
                done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=self.timeout,
                                      check=False, preexec_fn=_limits(self.timeout) if os.name == "posix" else None)
            except subprocess.TimeoutExpired:
                return 124, f"timed out after {self.timeout:g}s"
            return done.returncode, (done.stdout + done.stderr)[-OUTPUT_LIMIT:]


def _limits(timeout: float) -> Callable[[], None]:
    """Resource limits for code an executor runs: CPU seconds, 1 GiB of memory, 64 MiB files."""

    def apply() -> None:
        import resource

        cpu = int(timeout) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 20, 64 << 20))

    return apply
