"""Expressions of the plan, evaluated against a frame of variables.

Asks and calls of defs inside expressions go back to the executor (they
are async: a model, a tool or a person answers).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from parley.compiler import plan as p
from parley.dsl.errors import FailureKind, RunError
from parley.runtime.context import StepContext
from parley.runtime.sizes import as_json, bounded, check_operands, joined, tree_copy
from parley.runtime.values import AgentValue, Reply, Thread

if TYPE_CHECKING:
    from parley.runtime.executor import Executor

#: Arithmetic; `and` and `or` short-circuit (`_binary`).
_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "//": operator.floordiv,
    "%": operator.mod, "**": operator.pow,
}
_COMPARE: dict[p.CompareOperator, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "in": lambda a, b: a in b, "not in": lambda a, b: a not in b, "is": lambda a, b: a is b or a == b is None,
    "is not": lambda a, b: not (a is b or a == b is None),
}


class Frame:
    """The variables of the script's body, or of one call of a def, seen from one step (`context`).

    Steps run at once share the variables, each with its own context (`at`).
    """

    def __init__(self, variables: dict[str, Any] | None = None, context: StepContext | None = None,
                 grown: dict[str, tuple[Any, int, int]] | None = None) -> None:
        self.variables: dict[str, Any] = variables if variables is not None else {}
        self.context = context if context is not None else StepContext.root()
        self.grown = grown if grown is not None else {}  # bounds on the sizes of variables changed in place

    def at(self, context: StepContext) -> Frame:
        """The same variables, seen from `context`."""
        return Frame(self.variables, context, self.grown)


async def evaluate(expr: p.Expr, frame: Frame, run: Executor) -> Any:
    """The value of `expr`; `RunError` (kind `value`) for a type error or a missing value."""
    return await _evaluate(expr, frame, run)


def _operate(operation: Callable[..., Any], *operands: Any) -> Any:
    """Apply one of the language's operators to script values. Only here does an exception's type
    decide whose mistake it is: `1 + "a"`, a missing key or a division by zero is the script's."""
    try:
        return operation(*operands)
    except (TypeError, ValueError, KeyError, IndexError, ZeroDivisionError, OverflowError) as error:
        raise RunError(FailureKind.VALUE, f"cannot compute a value here: {_explain(error)}") from None


async def _evaluate(expr: p.Expr, frame: Frame, run: Executor) -> Any:
    match expr:
        case p.Const(value=value):
            return value
        case p.Var(name=name):
            if name not in frame.variables:
                raise RunError(FailureKind.VALUE, f"`{name}` has no value yet (it is assigned only on some paths)")
            return frame.variables[name]
        case p.Text():
            return await text(expr, frame, run)
        case p.Money(amount=amount):
            return float(Decimal(amount))
        case p.Duration(seconds=seconds):
            return seconds
        case p.ListOf(items=items):
            return bounded([await _evaluate(item, frame, run) for item in items])
        case p.DictOf(keys=keys, values=values):
            keys_ = [await _evaluate(k, frame, run) for k in keys]
            values_ = [await _evaluate(v, frame, run) for v in values]
            return bounded(dict(zip(keys_, values_)))
        case p.GetAttr(value=inner, name=name):
            value = await _evaluate(inner, frame, run)
            if isinstance(value, Thread) and name == "summary":
                return await run.summarize(value, frame.context)
            return attribute(value, name)
        case p.GetItem(value=inner, index=index):
            return _operate(operator.getitem, await _evaluate(inner, frame, run), await _evaluate(index, frame, run))
        case p.Slice(value=inner, start=start, stop=stop):
            value = await _evaluate(inner, frame, run)
            bounds = [None if b is None else await _evaluate(b, frame, run) for b in (start, stop)]
            return slice_of(value, *bounds)
        case p.Call():
            args = [await _evaluate(a, frame, run) for a in expr.args]
            keywords = {k.name: await _evaluate(k.value, frame, run) for k in expr.keywords}
            return bounded(await run.call(expr.callee, expr.callee_kind, args, keywords, frame.context))
        case p.Unary(op=op, operand=operand):
            return _operate(_unary, op, await _evaluate(operand, frame, run))
        case p.Binary():
            return await _binary(expr, frame, run)
        case p.Compare():
            left = await _evaluate(expr.left, frame, run)
            for compare_op, operand in zip(expr.ops, expr.comparators):
                right = await _evaluate(operand, frame, run)
                if not _operate(_COMPARE[compare_op], plain(left), plain(right)):
                    return False
                left = right
            return True
        case p.IfElse(test=test, body=body, orelse=orelse):
            return await _evaluate(body if truthy(await _evaluate(test, frame, run)) else orelse, frame, run)
        case p.Ask():
            return await run.ask_expr(expr, frame)
        case p.AgentRef(name=name):
            return AgentValue(name)
        case _:
            p.assert_never(expr)


def slice_of(value: Any, start: Any, stop: Any) -> Any:
    """`value[start:stop]` of a text (a reply's too) or a list; bounds are ints or left out (None)."""
    if not isinstance(value, str | list) or isinstance(value, Thread):
        kind = "a conversation (slice its `.messages`)" if isinstance(value, Thread) else show(value)[:60]
        raise RunError(FailureKind.VALUE, f"only a text or a list can be sliced, not {kind}")
    for bound in (start, stop):
        if bound is not None and (not isinstance(bound, int) or isinstance(bound, bool)):
            raise RunError(FailureKind.VALUE, f"a slice's bounds are ints, not {show(bound)[:60]}")
    return str.__str__(value[start:stop]) if isinstance(value, str) else value[start:stop]


def _unary(op: p.UnaryOperator, value: Any) -> Any:
    match op:
        case "not":
            return not truthy(value)
        case "-":
            return -value
        case "+":
            return +value
        case _:
            p.assert_never(op)


async def _binary(expr: p.Binary, frame: Frame, run: Executor) -> Any:
    """`left op right`: `and` and `or` short-circuit; `+` with text on the left joins as text."""
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
    check_operands(expr.op, plain(left), plain(right))  # before a text or list is built, not after
    return bounded(_operate(_BINARY[expr.op], plain(left), plain(right)))


async def text(value: p.Text, frame: Frame, run: Executor) -> str:
    """Interpolate a text: values are shown as text (a thread as its last message)."""
    parts = []
    for part in value.parts:
        parts.append(part if isinstance(part, str) else show(await _evaluate(part, frame, run)))
    return joined(parts)


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
        return as_json(value)
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
    """Values are values: lists, dicts and records are copied when assigned or passed (whole: no part of
    the copy is shared, within it or with the original), and only a value within the limits is kept."""
    return tree_copy(value)


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
