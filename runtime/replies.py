"""Replies that must have a shape: typed asks (JSON validated against a schema) and yes/no asks."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema

from parley.runtime.models import ModelReply
from parley.runtime.values import Record


def response_format(schema: dict[str, Any]) -> dict[str, Any]:
    """Structured output as OpenAI's API asks for it."""
    return {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema}}


def degraded(response_format: dict[str, Any]) -> dict[str, Any] | None:
    """The next, more widely supported structured-output format (JSON mode), or None (instructions only)."""
    if response_format.get("type") == "json_schema":
        return {"type": "json_object", "schema": response_format["json_schema"]["schema"]}
    return None


_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")


def validated(text_reply: str, schema: dict[str, Any]) -> tuple[Any, str | None]:
    """The reply's value and None, or None and what is wrong with it (fed back to the model)."""
    candidate = _FENCE.sub("", text_reply.strip())
    try:
        value = json.loads(candidate)
    except ValueError:
        match = re.search(r"[\[{].*[\]}]", candidate, re.DOTALL)
        if match is None:
            if schema.get("type") == "string" or "enum" in schema:
                value = candidate.strip().strip('"')
            else:
                return None, "the reply is not JSON."
        else:
            try:
                value = json.loads(match.group())
            except ValueError:
                return None, "the reply is not valid JSON."
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError as error:
        return None, f"{error.message}."
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


def origin(reply: ModelReply | None) -> dict[str, bool]:
    """Where a turn's reply came from, for its event: the response cache or the run's journal."""
    return {"cached": bool(reply is not None and reply.cached), "journaled": bool(reply is not None and reply.journaled)}
