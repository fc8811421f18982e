"""Checking values against the JSON Schemas of the script's types.

Strictly: an `int` is a JSON integer written as one. JSON Schema counts
`1e5` and `2.0` as integers, but `json.loads` reads them as floats, and a
script that declared `int` must get an int. One checker per schema is kept,
so a schema is checked once, not at every value.
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema import ValidationError  # noqa: F401 - `schemas.ValidationError`, as type checkers see it
    from jsonschema.protocols import Validator

# jsonschema is imported by the first check, not with the runtime: a run whose script declares no types
# never loads it (importing it costs about as much as the rest of the runtime).


def __getattr__(name: str) -> Any:
    """`schemas.ValidationError`, jsonschema's, once a check asks for it."""
    if name == "ValidationError":
        import jsonschema

        return jsonschema.ValidationError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _is_integer(checker: Any, value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@functools.cache
def _strict() -> Any:
    """Draft 2020-12, with `integer` meaning a Python int."""
    import jsonschema

    return jsonschema.validators.extend(
        jsonschema.Draft202012Validator,
        type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
    )


@functools.lru_cache(maxsize=256)
def _validator(schema_text: str) -> Validator:
    schema = json.loads(schema_text)
    strict = _strict()
    strict.check_schema(schema)
    return strict(schema)  # type: ignore[no-any-return]


def validate(value: Any, schema: dict[str, Any]) -> None:
    """Raise `ValidationError` (the most relevant one) when `value` does not fit `schema`."""
    from jsonschema.exceptions import best_match

    error = best_match(_validator(json.dumps(schema)).iter_errors(value))
    if error is not None:
        raise error
