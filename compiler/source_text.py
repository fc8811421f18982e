"""Plan records back to Parley source: expressions, types, conditions, targets and parameters.

The drawings in `compiler.draw` show each step as it was written; these
printers give them that text. Expressions get only the parentheses the
grammar needs, so what they print parses back to the same expression.
"""

from __future__ import annotations

from parley.compiler import plan as p
from parley.compiler.plan import assert_never

# Binding strength, loosest first, as in grammar/parley.lark. An operand is
# parenthesised only when it binds more loosely than its place requires.
_TERNARY, _OR, _AND, _NOT, _COMPARE, _SUM, _TERM, _FACTOR, _POWER, _POSTFIX = range(1, 11)
_BINARY = {  # op: (its strength, left operand's place, right operand's place)
    "or": (_OR, _OR, _AND), "and": (_AND, _AND, _NOT), "+": (_SUM, _SUM, _TERM), "-": (_SUM, _SUM, _TERM),
    "*": (_TERM, _TERM, _FACTOR), "/": (_TERM, _TERM, _FACTOR), "//": (_TERM, _TERM, _FACTOR),
    "%": (_TERM, _TERM, _FACTOR), "**": (_POWER, _POSTFIX, _FACTOR),
}
_Q = '"'  # strings are drawn in double quotes; an interpolation inside one uses single quotes
_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0", "{": "{{", "}": "}}"}


def expr_source(expr: p.Expr) -> str:
    """`expr` as readable Parley source, with only the parentheses the grammar needs."""
    return _expr(expr, 0, _Q)


def _expr(expr: p.Expr, place: int, q: str, tail: bool = False) -> str:
    text, strength = _expr_strength(expr, q, tail)
    return f"({text})" if strength < place else text


def _expr_strength(e: p.Expr, q: str, tail: bool) -> tuple[str, int]:
    """Source text of `e` and how tightly it binds; `q` is the quote its strings use.

    `tail` says a word (`and`, `if`, `in`…) follows `e`'s text, where a bare quoted
    ask would be P198: such an ask is bracketed.
    """
    match e:
        case p.Const(value=value):
            return _const(value, q)
        case p.Money(amount=amount):
            return "$" + amount, _POSTFIX
        case p.Duration(seconds=seconds):
            return duration_source(seconds), _POSTFIX
        case p.Var(name=name) | p.AgentRef(name=name):
            return name, _POSTFIX
        case p.Text():
            return _text(e, q), _POSTFIX
        case p.ListOf(items=items):
            return "[" + ", ".join(_expr(item, 0, q) for item in items) + "]", _POSTFIX
        case p.DictOf(keys=keys, values=values):
            return "{" + ", ".join(f"{_expr(k, 0, q)}: {_expr(v, 0, q)}" for k, v in zip(keys, values)) + "}", _POSTFIX
        case p.GetAttr(value=value, name=name):
            return f"{_expr(value, _POSTFIX, q)}.{name}", _POSTFIX
        case p.GetItem(value=value, index=index):
            return f"{_expr(value, _POSTFIX, q)}[{_expr(index, 0, q)}]", _POSTFIX
        case p.Slice(value=value, start=start, stop=stop):
            bounds = ":".join("" if b is None else _expr(b, 0, q) for b in (start, stop))
            return f"{_expr(value, _POSTFIX, q)}[{bounds}]", _POSTFIX
        case p.Call(callee=callee, args=args, keywords=keywords):
            parts = [_expr(a, 0, q) for a in args] + [f"{k.name}={_expr(k.value, 0, q)}" for k in keywords]
            return f"{callee}({', '.join(parts)})", _POSTFIX
        case p.Unary(op="not", operand=operand):
            return "not " + _expr(operand, _NOT, q, tail), _NOT
        case p.Unary(op=op, operand=operand):
            inner = _expr(operand, _FACTOR, q, tail)
            return op + (" " if inner[0] in "+-" else "") + inner, _FACTOR  # `- -x`, not `--x`
        case p.Binary(op=op, left=left, right=right):
            strength, left_place, right_place = _BINARY.get(op, (_SUM, _SUM, _TERM))
            word = op[0].isalpha()
            return f"{_expr(left, left_place, q, word)} {op} {_expr(right, right_place, q, tail)}", strength
        case p.Compare(left=left, ops=ops, comparators=comparators):
            words = [op[0].isalpha() for op in ops[1:]] + [tail]  # what follows each comparator
            rest = "".join(f" {op} {_expr(right, _SUM, q, w)}" for op, right, w in zip(ops, comparators, words))
            return _expr(left, _SUM, q, ops[0][0].isalpha()) + rest, _COMPARE
        case p.IfElse(test=test, body=body, orelse=orelse):
            return f"{_expr(body, _OR, q, True)} if {_expr(test, _OR, q, True)} else {_expr(orelse, _TERNARY, q, tail)}", _TERNARY
        case p.Ask(agent=agent, message=message, yes_no=yes_no, type=type_, agent_expr=held):
            # Looser than a postfix, so `(@a "…").last` keeps its parentheses; bracketed before
            # a word too (P198). A typed ask has no expression syntax: `as T` is the drawing's
            # notation for it.
            text = f"@{agent_source(agent, held)}{'?' if yes_no else ''} {_text(message, q)}"
            return (f"{text} as {type_source(type_)}", _TERNARY) if type_ else (text, 0 if tail else _POWER)
        case _:
            assert_never(e)


def agent_source(agent: str, held: p.Expr | None) -> str:
    """Whom an ask or `tell` names: the agent, or the variable holding an agent value (`@player`)."""
    return agent if held is None else expr_source(held)


def _const(value: str | float | bool | None, q: str) -> tuple[str, int]:
    if isinstance(value, str):
        return _quoted(value, q), _POSTFIX
    if value is None or isinstance(value, bool):
        return {None: "none", True: "true", False: "false"}[value], _POSTFIX
    text = repr(value)
    if isinstance(value, float) and "e" in text and "." not in text:
        text = text.replace("e", ".0e")  # the grammar's floats need a `.`
    return text, (_FACTOR if text.startswith("-") else _POSTFIX)


def duration_source(seconds: float) -> str:
    """A length of time in its largest whole unit: 120 seconds is `2m`, 1.5 seconds is `1500ms`."""
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    millis = seconds * 1000
    return f"{int(millis)}ms" if millis == int(millis) else f"{seconds}s"


def string_source(text: str) -> str:
    """`text` as a double-quoted Parley string."""
    return _quoted(text, _Q)


def _quoted(text: str, q: str) -> str:
    """A string literal (every Parley string interpolates, so braces are doubled)."""
    return q + "".join(_ESCAPES.get(c, "\\" + c if c == q else c) for c in text) + q


def text_source(text: p.Text) -> str:
    """Text with interpolations as a double-quoted Parley string."""
    return _text(text, _Q)


def _text(text: p.Text, q: str) -> str:
    out = []
    for part in text.parts:
        if isinstance(part, str):
            out.append(_quoted(part, q)[1:-1])
        else:  # an interpolation cannot contain its string's own quote, and `{{` would read as a brace
            source = _expr(part, 0, "'" if q == _Q else _Q)
            pad = " " if source[0] == "{" or source[-1] == "}" else ""
            out.append("{" + pad + source + pad + "}")
    return q + "".join(out) + q


def type_source(t: p.TypeRef) -> str:
    """A type as written in Parley."""
    match t:
        case p.NamedType(name=name):
            return name
        case p.ListType(item=item):
            return f"list[{type_source(item)}]"
        case p.DictType(value=value):
            return f"dict[str, {type_source(value)}]"
        case p.LiteralType(value=value):
            return _quoted(value, _Q)
        case p.UnionType(options=options):
            return " | ".join(type_source(o) for o in options)
        case _:
            assert_never(t)


def condition_source(c: p.Condition, place: int = 0) -> str:
    """An `until` condition as written (`and` binds tighter than `or`)."""
    match c:
        case p.TurnsCondition(count=count, bound=None):
            return f"{count} turns"
        case p.TurnsCondition(bound=bound):
            return f"{_expr(bound, _SUM, _Q)} turns"
        case p.ExprCondition(test=test):
            return _expr(test, _NOT, _Q)
        case p.SaysCondition(agent=agent, text=text):
            return f"{agent or 'anyone'} says {_text(text, _Q)}"
        case p.ProseCondition(text=text):
            return _text(text, _Q)
        case p.UsageCondition(metric=metric, limit=limit):
            return f"{metric} > {_expr(limit, _SUM, _Q)}"
        case p.BoolCondition(op=op, left=left, right=right):
            strength = 2 if op == "and" else 1
            both = f"{condition_source(left, strength)} {op} {condition_source(right, strength + 1)}"
            return f"({both})" if strength < place else both
        case _:
            assert_never(c)


def target_source(t: p.Target) -> str:
    """An assignment target as written: `x`, `xs[i]` or `record.field`."""
    match t:
        case p.VarTarget(name=name):
            return name
        case p.ItemTarget(value=value, index=index):
            return f"{_expr(value, _POSTFIX, _Q)}[{expr_source(index)}]"
        case p.AttrTarget(value=value, name=name):
            return f"{_expr(value, _POSTFIX, _Q)}.{name}"
        case _:
            assert_never(t)


def param_source(name: str, type_: p.TypeRef | None, default: p.Expr | None) -> str:
    """A parameter or field: `name[: type][ = default]`."""
    return name + (f": {type_source(type_)}" if type_ else "") + (f" = {expr_source(default)}" if default else "")


def value_source(value: object) -> str:
    """An option's constant value (plain JSON data) as source."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(value_source, value)) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{value_source(k)}: {value_source(v)}" for k, v in value.items()) + "}"
    if value is None or isinstance(value, (str, int, float, bool)):
        return _const(value, _Q)[0]
    return repr(value)
