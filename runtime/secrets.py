"""Secrets never leave in what Parley writes: keys and tokens from the environment are masked.

A server may echo the key it was sent (in an error message, say); everything
the runtime writes — error messages, the run store, traces — passes through
`redact` first.
"""

from __future__ import annotations

import os
import re

_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD)$")
_MASK = "[redacted]"


def secret_values() -> list[str]:
    """Values of environment variables that hold secrets (`*_KEY`, `*_TOKEN`, …), longest first."""
    values = {value for name, value in os.environ.items() if _SECRET_NAME.search(name.upper()) and len(value) >= 8}
    return sorted(values, key=len, reverse=True)


def redact(text: str, extra: tuple[str, ...] = ()) -> str:
    """`text` with every known secret replaced by [redacted]."""
    for secret in (*extra, *secret_values()):
        if secret and len(secret) >= 8:
            text = text.replace(secret, _MASK)
    return text
