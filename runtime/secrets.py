"""Secrets never leave in what Parley writes or shows: keys and tokens are masked wherever they would appear.

A secret is the value of an environment variable named like a credential
(`*_KEY`, `*_TOKEN`, `*_SECRET`, `*_PASSWORD`, and any `OPENAI_*` but the
server's address and API version), or of a variable that a model's
`api_key_env` names, whatever its name (`name_secrets`). Values shorter than
8 characters are left alone: masking them would mask ordinary words.

A server or a model may echo the key it was sent, quoted or escaped: a secret
is found as written and in every form escaping gives it — JSON (`\\"`, `\\\\`,
`\\/`, `\\uXXXX` for any character), JSON inside JSON (tool arguments) and
Python's repr. Everything Parley writes or shows passes through `redact`
first (error messages, the run store, traces, the console, the CLI's output);
text that arrives piece by piece (a streamed reply) passes through a
`StreamMask`, which holds back a tail that could be the start of a secret.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterable
from typing import Any

_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD)$")
#: `OPENAI_*` variables hold credentials (keys, organization, project), except these, which say where and how.
_OPENAI_NOT_SECRET = re.compile(r"_(URL|BASE|VERSION|TYPE|LOG)$")
_MASK = "[redacted]"
#: Shorter values are not masked: they would mask ordinary text.
MIN_LENGTH = 8
#: Characters that no escaping (JSON, JSON in JSON, repr) ever changes.
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~+=:@,;!#$%&*()[]{}<>?|^` ")
#: Variables named as secrets by the plans run in this process (a model's `api_key_env`).
_named: set[str] = set()


def is_secret_name(name: str) -> bool:
    """Whether the environment variable `name` holds a secret by its name alone, or was named as one."""
    upper = name.upper()
    return (name in _named or bool(_SECRET_NAME.search(upper))
            or (upper.startswith("OPENAI_") and not _OPENAI_NOT_SECRET.search(upper)))


def name_secrets(names: Iterable[str]) -> None:
    """Treat the variables `names` as secrets from now on, whatever they are called (a model's `api_key_env`)."""
    _named.update(name for name in names if name)


def plan_secret_names(plan: Any) -> list[str]:
    """The variables a plan's models read their keys from (`api_key_env`); `plan` may be its JSON (or None)."""
    if plan is None:
        return []
    if isinstance(plan, str):
        try:
            models = json.loads(plan).get("models", [])
            options = [(o.get("name"), o.get("value")) for m in models for o in m.get("options", [])]
        except (ValueError, AttributeError, TypeError):  # a damaged plan: its reader says so
            return []
    else:
        options = [(o.name, o.value) for m in plan.models for o in m.options]
    return [value for name, value in options if name == "api_key_env" and isinstance(value, str)]


def secret_values() -> list[str]:
    """The values of the environment's secrets (see the module), longest first; read again whenever the
    environment or the names given to `name_secrets` changed (everything written asks, so it is kept)."""
    global _found
    raw = getattr(os.environ, "_data", None)  # the bytes behind os.environ: compared without decoding
    state = (tuple(raw.items()) if isinstance(raw, dict) else tuple(os.environ.items()), frozenset(_named))
    if _found is None or _found[0] != state:
        values = {value for name, value in os.environ.items() if len(value) >= MIN_LENGTH and is_secret_name(name)}
        _found = (state, sorted(values, key=lambda value: (-len(value), value)))
    return list(_found[1])


#: The environment (and the names given as secrets) last read, with the secrets found in it.
_found: tuple[Any, list[str]] | None = None


def redact(text: str, extra: tuple[str, ...] = ()) -> str:
    """`text` with every known secret, in any of its escaped forms, replaced by [redacted]."""
    pattern = _pattern(_known(extra))
    return text if pattern is None else pattern.sub(_MASK, text)


def redact_data(value: Any) -> Any:
    """`value` (JSON-like data: dicts, lists, strings) with every string in it redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_data(key): redact_data(item) for key, item in value.items()}
    if type(value) in (list, tuple):
        return type(value)(redact_data(item) for item in value)
    return value


class StreamMask:
    """Text written piece by piece, masked: a secret split across two pieces is still found.

    `feed` gives what can be shown now: the text so far, redacted, less a tail that could be the start of
    a secret (held back until the next piece shows it is not); `flush` gives the tail at the end."""

    def __init__(self) -> None:
        self._held = ""

    def feed(self, piece: str) -> str:
        secrets = _known(())
        pattern = _pattern(secrets)
        text = self._held + piece if pattern is None else pattern.sub(_MASK, self._held + piece)
        cut = _unsafe_tail(text, _forms(secrets))
        self._held = text[cut:]
        return text[:cut]

    def flush(self) -> str:
        text, self._held = redact(self._held), ""
        return text


def _known(extra: tuple[str, ...]) -> tuple[str, ...]:
    values = {value for value in (*extra, *secret_values()) if value and len(value) >= MIN_LENGTH}
    return tuple(sorted(values, key=lambda value: (-len(value), value)))


@functools.lru_cache(maxsize=16)
def _pattern(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    """One pattern for every secret (longest first), each character in any of its escaped forms."""
    if not secrets:
        return None
    return re.compile("|".join("".join(map(_char, secret)) for secret in secrets))


def _char(c: str) -> str:
    """A pattern for the character `c` as written or escaped (by JSON, JSON in JSON, or repr)."""
    if c in _PLAIN:
        return re.escape(c)
    code = ord(c)
    units = [code] if code < 0x10000 else [0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)]
    forms = [r"\\*" + re.escape(c),  # as it is, or with a backslash (or several) before it: \" \\ \/ \'
             "".join(r"\\+u" + _hex(unit, 4) for unit in units)]  # \uXXXX (a surrogate pair beyond the BMP)
    short = {"\n": "n", "\t": "t", "\r": "r", "\b": "b", "\f": "f"}.get(c)
    if short:
        forms.append(r"\\+" + short)
    if code < 0x100:
        forms.append(r"\\+x" + _hex(code, 2))  # repr of a control character
    elif code >= 0x10000:
        forms.append(r"\\+U" + _hex(code, 8))
    return "(?:" + "|".join(forms) + ")"


def _hex(number: int, width: int) -> str:
    return "".join(f"[{d.lower()}{d.upper()}]" if d.isalpha() else d for d in f"{number:0{width}x}")


@functools.lru_cache(maxsize=16)
def _forms(secrets: tuple[str, ...]) -> tuple[str, ...]:
    """The usual written forms of each secret (as it is, JSON, JSON in JSON, repr): what a held tail may begin."""
    forms: set[str] = set()
    for secret in secrets:
        for ascii_only in (True, False):
            once = json.dumps(secret, ensure_ascii=ascii_only)[1:-1]
            forms.update((secret, once, json.dumps(once, ensure_ascii=ascii_only)[1:-1]))
        forms.add(repr(secret)[1:-1])
    return tuple(forms)


def _unsafe_tail(text: str, forms: tuple[str, ...]) -> int:
    """Where the tail of `text` that could begin a secret starts (`len(text)` when none could)."""
    if not forms:
        return len(text)
    starts = {form[0] for form in forms}
    for i in range(max(0, len(text) - max(map(len, forms)) + 1), len(text)):
        tail = text[i:]
        if tail[0] in starts and any(form.startswith(tail) for form in forms):
            return i
    return len(text)
