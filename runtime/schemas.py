"""Checking values against the JSON Schemas of the script's types.

Strictly: an `int` is a JSON integer written as one. JSON Schema counts
`1e5` and `2.0` as integers, but `json.loads` reads them as floats, and a
script that declared `int` must get an int. One checker per schema is kept,
so a schema is checked once, not at every value.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import jsonschema
from jsonschema.protocols import Validator

ValidationError = jsonschema.ValidationError


def _is_integer(checker: Any, value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_Strict = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
)


@lru_cache(maxsize=256)
def _validator(schema_text: str) -> Validator:
    schema = json.loads(schema_text)
    _Strict.check_schema(schema)
    return _Strict(schema)


def validate(value: Any, schema: dict[str, Any]) -> None:
    """Raise `ValidationError` (the most relevant one) when `value` does not fit `schema`."""
    error = jsonschema.exceptions.best_match(_validator(json.dumps(schema)).iter_errors(value))
    if error is not None:
        raise error
