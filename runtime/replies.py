"""Replies that must have a shape: typed asks (JSON validated against a schema) and yes/no asks."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from parley.runtime import schemas
from parley.runtime.bounds import MAX_REPLY_BYTES, JSONBoundsError, clip, loads
from parley.runtime.models import ModelReply
from parley.runtime.values import Record

if TYPE_CHECKING:
    from parley.runtime.journal import Journal


def response_format(schema: dict[str, Any]) -> dict[str, Any]:
    """Structured output as OpenAI's API asks for it."""
    return {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema}}


def degraded(response_format: dict[str, Any]) -> dict[str, Any] | None:
    """The next, more widely supported structured-output format (JSON mode), or None (instructions only)."""
    if response_format.get("type") == "json_schema":
        return {"type": "json_object", "schema": response_format["json_schema"]["schema"]}
    return None


def _unfenced(text: str) -> str:
    """The text without a Markdown code fence around it (string operations: linear on any text)."""
    text = text.strip()
    if text.startswith("```"):
        text = text[3:]
        text = text.removeprefix("json")
        text = text.lstrip()
    if text.endswith("```"):
        text = text[:-3].rstrip()
    return text


def _embedded(text: str) -> str | None:
    """From the first `[` or `{` to the last `]` or `}`: the JSON a model wrapped in prose, if any."""
    starts = [i for i in (text.find("["), text.find("{")) if i >= 0]
    end = max(text.rfind("]"), text.rfind("}"))
    return text[min(starts):end + 1] if starts and end > min(starts) else None


def validated(text_reply: str, schema: dict[str, Any]) -> tuple[Any, str | None]:
    """The reply's value and None, or None and what is wrong with it (fed back to the model).

    The reply is bounded (`MAX_REPLY_BYTES`, nesting `MAX_DEPTH`: see bounds.py), and the message
    quotes only a clipped piece of it."""
    candidate = _unfenced(text_reply)
    try:
        value = loads(candidate, "the reply", MAX_REPLY_BYTES)
    except JSONBoundsError as error:
        return None, f"{error}."
    except ValueError:
        embedded = _embedded(candidate)
        if embedded is None:
            if schema.get("type") == "string" or "enum" in schema:
                value = candidate.strip().strip('"')
            else:
                return None, "the reply is not JSON."
        else:
            try:
                value = loads(embedded, "the reply")
            except JSONBoundsError as error:
                return None, f"{error}."
            except ValueError:
                return None, "the reply is not valid JSON."
    try:
        schemas.validate(value, schema)
    except schemas.ValidationError as error:
        return None, f"{clip(error.message)}."
    return value, None


def records(value: Any) -> Any:
    """JSON objects as records (fields read as attributes)."""
    if isinstance(value, dict):
        return Record({k: records(v) for k, v in value.items()})
    if isinstance(value, list):
        return [records(v) for v in value]
    return value


def parse_yes_no(reply: str) -> bool | None:
    """True or False for a reply starting with yes or no; None for anything else."""
    word = re.match(r"\W*(\w+)", reply.lower())
    if word is None:
        return None
    if word.group(1) in ("yes", "y", "true", "approve", "approved"):
        return True
    if word.group(1) in ("no", "n", "false"):
        return False
    return None


def resumed_try(reply: ModelReply | None, journal: Journal, served_before: int) -> bool:
    """Whether a try at a typed or yes/no reply came from a resumed run's journal. Such a try does not
    count against the retries: the run that recorded it counted it already, and a resumed run must get
    fresh tries after the recorded ones, not fail again on the same replies. (A person's answer carries
    no reply: it came from the journal if the journal served a call meanwhile.) In a replay every try
    counts, so the replay ends where the recorded run did."""
    if journal.mode != "resume":
        return False
    return reply.journaled if reply is not None else journal.served > served_before


def origin(reply: ModelReply | None) -> dict[str, bool]:
    """Where a turn's reply came from, for its event: the response cache or the run's journal."""
    return {"cached": bool(reply is not None and reply.cached), "journaled": bool(reply is not None and reply.journaled)}
