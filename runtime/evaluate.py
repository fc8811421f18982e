"""Expressions of the plan, evaluated against a frame of variables.

Asks and calls of defs inside expressions go back to the executor (they
are async: a model, a tool or a person answers).
"""

from __future__ import annotations

import copy
import json
import operator
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from parley.compiler import plan as p
from parley.dsl.errors import FailureKind, RunError
from parley.runtime.values import Record, Reply, Thread

if TYPE_CHECKING:
    from parley.runtime.executor import Executor

_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "//": operator.floordiv,
    "%": operator.mod, "**": operator.pow,
}
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "in": lambda a, b: a in b, "not in": lambda a, b: a not in b, "is": lambda a, b: a is b or a == b is None,
    "is not": lambda a, b: not (a is b or a == b is None),
}


class Frame:
    """The variables of the script's body, or of one call of a def."""

    def __init__(self, variables: dict[str, Any] | None = None) -> None:
        self.variables: dict[str, Any] = variables or {}


async def evaluate(expr: p.Expr, frame: Frame, run: Executor) -> Any:
    """The value of `expr`; `RunError` (kind `value`) for a type error or a missing value."""
    try:
        return await _evaluate(expr, frame, run)
    except RunError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, ZeroDivisionError, AttributeError) as error:
        raise RunError(FailureKind.VALUE, f"cannot compute a value here: {_explain(error)}") from None


async def _evaluate(expr: p.Expr, frame: Frame, run: Executor) -> Any:
    if isinstance(expr, p.Const):
        return expr.value
    if isinstance(expr, p.Var):
        if expr.name not in frame.variables:
            raise RunError(FailureKind.VALUE, f"`{expr.name}` has no value yet (it is assigned only on some paths)")
        return frame.variables[expr.name]
    if isinstance(expr, p.Text):
        return await text(expr, frame, run)
    if isinstance(expr, p.Money):
        return float(Decimal(expr.amount))
    if isinstance(expr, p.Duration):
        return expr.seconds
    if isinstance(expr, p.ListOf):
        return [await _evaluate(item, frame, run) for item in expr.items]
    if isinstance(expr, p.DictOf):
        keys = [await _evaluate(k, frame, run) for k in expr.keys]
        values = [await _evaluate(v, frame, run) for v in expr.values]
        return dict(zip(keys, values))
    if isinstance(expr, p.GetAttr):
        value = await _evaluate(expr.value, frame, run)
        if isinstance(value, Thread) and expr.name == "summary":
            return await run.summarize(value)
        return attribute(value, expr.name)
    if isinstance(expr, p.GetItem):
        return (await _evaluate(expr.value, frame, run))[await _evaluate(expr.index, frame, run)]
    if isinstance(expr, p.Call):
        args = [await _evaluate(a, frame, run) for a in expr.args]
        keywords = {k.name: await _evaluate(k.value, frame, run) for k in expr.keywords}
        return await run.call(expr.callee, expr.callee_kind, args, keywords)
    if isinstance(expr, p.Unary):
        value = await _evaluate(expr.operand, frame, run)
        return (not truthy(value)) if expr.op == "not" else (-value if expr.op == "-" else +value)
    if isinstance(expr, p.Binary):
        left = await _evaluate(expr.left, frame, run)
        if expr.op == "and":
            return await _evaluate(expr.right, frame, run) if truthy(left) else left
        if expr.op == "or":
            return left if truthy(left) else await _evaluate(expr.right, frame, run)
        right = await _evaluate(expr.right, frame, run)
        if expr.op == "+" and isinstance(left, str) and not isinstance(right, str):
            right = show(right)
        if expr.op == "**" and isinstance(right, int | float) and abs(right) > 10_000 and plain(left) not in (0, 1, -1):
            raise RunError(FailureKind.VALUE, "a power above 10,000 is not computed: every value is bounded")
        return _BINARY[expr.op](plain(left), plain(right))
    if isinstance(expr, p.Compare):
        left = await _evaluate(expr.left, frame, run)
        for op, operand in zip(expr.ops, expr.comparators):
            right = await _evaluate(operand, frame, run)
            if not _COMPARE[op](plain(left), plain(right)):
                return False
            left = right
        return True
    if isinstance(expr, p.IfElse):
        chosen = expr.body if truthy(await _evaluate(expr.test, frame, run)) else expr.orelse
        return await _evaluate(chosen, frame, run)
    if isinstance(expr, p.Ask):
        return await run.ask_expr(expr, frame)
    raise AssertionError(f"unknown expression {expr!r}")  # pragma: no cover


async def text(value: p.Text, frame: Frame, run: Executor) -> str:
    """Interpolate a text: values are shown as text (a thread as its last message)."""
    parts = []
    for part in value.parts:
        parts.append(part if isinstance(part, str) else show(await _evaluate(part, frame, run)))
    return "".join(parts)


def show(value: Any) -> str:
    """How a value reads when interpolated or printed."""
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, Thread):
        return str(value)
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def truthy(value: Any) -> bool:
    if isinstance(value, Thread):
        return bool(value.messages)
    return bool(value)


def attribute(value: Any, name: str) -> Any:
    """`.name` on a record, reply or thread."""
    if isinstance(value, Thread):
        if name == "messages":
            return [m.reply() for m in value.messages]
        if name == "members":
            return list(value.members)
        return getattr(value, name)
    if isinstance(value, Reply) and name in ("text", "agent", "tokens", "cost"):
        return getattr(value, name)
    if isinstance(value, dict):
        if name not in value:
            raise RunError(FailureKind.VALUE, f"the value has no field `{name}`")
        return value[name]
    raise RunError(FailureKind.VALUE, f"{type(value).__name__} value has no `.{name}`")


def copied(value: Any) -> Any:
    """Values are values: lists, dicts and records are copied when assigned or passed."""
    if isinstance(value, list | dict):
        return Record(copy.deepcopy(dict(value))) if isinstance(value, Record) else copy.deepcopy(value)
    return value


def plain(value: Any) -> Any:
    """The value operators and built-ins work on: a reply is its text, and so is a thread (its last message),
    as when they are interpolated."""
    if isinstance(value, Reply):
        return str.__str__(value)
    if isinstance(value, Thread):
        return value.last.text
    return value


def _explain(error: Exception) -> str:
    if isinstance(error, KeyError):
        return f"no key {error}"
    if isinstance(error, IndexError):
        return "index out of range"
    if isinstance(error, ZeroDivisionError):
        return "division by zero"
    return str(error)
