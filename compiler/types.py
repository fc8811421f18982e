"""Types: from syntax to `TypeRef`, to JSON Schema, and the little inference the checks need."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from parley.compiler import plan as p

PRIMITIVES = ("str", "int", "float", "bool", "none", "any", "agent")

#: Static kinds the checks know besides TypeRefs: the value of a chat/group, and of an ask.
THREAD = p.NamedType(name="thread")
REPLY = p.NamedType(name="reply")
THREAD_ATTRIBUTES = ("messages", "last", "summary", "turns", "tokens", "cost", "stop_reason", "members")
REPLY_ATTRIBUTES = ("text", "tokens", "cost", "agent")


def type_source(type_ref: p.TypeRef) -> str:
    """The type as written in a script."""
    if isinstance(type_ref, p.NamedType):
        return type_ref.name
    if isinstance(type_ref, p.ListType):
        return f"list[{type_source(type_ref.item)}]"
    if isinstance(type_ref, p.DictType):
        return f"dict[str, {type_source(type_ref.value)}]"
    if isinstance(type_ref, p.LiteralType):
        return f'"{type_ref.value}"'
    return " | ".join(type_source(o) for o in type_ref.options)


def literal_values(type_ref: p.TypeRef | None) -> tuple[str, ...] | None:
    """The allowed strings when `type_ref` is a literal or a union of literals, else None."""
    if isinstance(type_ref, p.LiteralType):
        return (type_ref.value,)
    if isinstance(type_ref, p.UnionType):
        literals = [o for o in type_ref.options if isinstance(o, p.LiteralType)]
        if len(literals) == len(type_ref.options):
            return tuple(o.value for o in literals)
    return None


def field_type(type_ref: p.TypeRef | None, name: str, records: Mapping[str, p.RecordDecl]) -> p.TypeRef | None:
    """The type of `.name` on a value of `type_ref`, when known."""
    if isinstance(type_ref, p.NamedType) and type_ref.name in records:
        for field in records[type_ref.name].fields:
            if field.name == name:
                return field.type
    if type_ref == THREAD and name == "last":
        return REPLY
    return None


def item_type(type_ref: p.TypeRef | None) -> p.TypeRef | None:
    """The type of an element when iterating over or indexing a value of `type_ref`."""
    if isinstance(type_ref, p.ListType):
        return type_ref.item
    if isinstance(type_ref, p.DictType):
        return p.NamedType(name="str")
    return None


def walk_names(type_ref: p.TypeRef, visit: Callable[[str], None]) -> None:
    """Call `visit` with every named type `type_ref` mentions."""
    if isinstance(type_ref, p.NamedType):
        visit(type_ref.name)
    elif isinstance(type_ref, p.ListType):
        walk_names(type_ref.item, visit)
    elif isinstance(type_ref, p.DictType):
        walk_names(type_ref.value, visit)
    elif isinstance(type_ref, p.UnionType):
        for option in type_ref.options:
            walk_names(option, visit)


def may_hold(declared: p.TypeRef, kind: str, text: str | None, records: Mapping[str, p.RecordDecl]) -> bool:
    """Whether a literal of `kind` (str, int, float, bool, none, list, dict; `text` for a string) can be of
    the declared type."""
    if isinstance(declared, p.UnionType):
        return any(may_hold(option, kind, text, records) for option in declared.options)
    if isinstance(declared, p.LiteralType):
        return kind == "str" and (text is None or text == declared.value)
    if isinstance(declared, p.ListType):
        return kind == "list"
    if isinstance(declared, p.DictType):
        return kind == "dict"
    name = declared.name
    if name == "any" or (name == "float" and kind == "int"):
        return True
    if name in records:
        return kind == "dict"
    return name == kind or name not in PRIMITIVES
