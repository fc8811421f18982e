"""A tiny household world for text actions, in the manner of ALFWorld.

A kitchen of receptacles, some of them closed, holding objects; an agent acts
one command at a time (`go to cabinet 1`, `open cabinet 1`, `take mug 1 from
cabinet 1`, `clean mug 1 with sinkbasin 1`, `put mug 1 in/on coffeemachine 1`,
`look`, `inventory`) and is told what it sees, or "Nothing happens." for an
action that cannot be done. Deterministic and stdlib only. The world lives in
this module: `start` builds it afresh, `step` is the python agent that applies
an action, `solved` says whether the task is done. On `--resume` Parley runs
the earlier calls again, in order, so the world is rebuilt as it was.
"""

from __future__ import annotations

import re

#: The task, and what makes it done: this object, cleaned, in that receptacle.
TASK = "put a clean mug in coffeemachine 1."
GOAL = ("mug 1", "coffeemachine 1")

#: Receptacles that open and close; the others are always open.
OPENABLE = frozenset({"cabinet 1", "cabinet 2", "fridge 1", "microwave 1"})
#: Where objects are cleaned.
SINKS = frozenset({"sinkbasin 1"})

NOTHING = "Nothing happens."


def _listed(things: list[str]) -> str:
    """`a bread 1, and a butterknife 1`, as ALFWorld lists things."""
    named = [f"a {t}" for t in things] or ["nothing"]
    return named[0] if len(named) == 1 else ", ".join(named[:-1]) + ", and " + named[-1]


class World:
    """Where each object is, which receptacles are open, where the agent stands and what it holds."""

    def __init__(self) -> None:
        self.contents: dict[str, list[str]] = {
            "cabinet 1": ["mug 1"], "cabinet 2": ["plate 1"], "coffeemachine 1": [],
            "countertop 1": ["bread 1", "butterknife 1"], "fridge 1": ["apple 1", "egg 1"],
            "microwave 1": [], "sinkbasin 1": [],
        }
        self.open: set[str] = set()
        self.clean: set[str] = set()
        self.at = ""
        self.holding = ""

    def seen(self, place: str) -> str:
        """What is in or on a receptacle, as the agent sees it."""
        if place in OPENABLE and place not in self.open:
            return f"The {place} is closed."
        return f"{'In' if place in OPENABLE else 'On'} the {place}, you see {_listed(self.contents[place])}."

    def act(self, action: str) -> str:
        """The observation after one action."""
        place = r"([a-z]+ \d+)"
        if m := re.fullmatch(rf"go to {place}", action):
            if m[1] not in self.contents:
                return NOTHING
            self.at = m[1]
            return f"You arrive at {m[1]}. {self.seen(m[1])}"
        if m := re.fullmatch(rf"(open|close) {place}", action):
            verb, target = m[1], m[2]
            if target != self.at or target not in OPENABLE or (target in self.open) == (verb == "open"):
                return NOTHING
            if verb == "open":
                self.open.add(target)
                return f"You open the {target}. {self.seen(target)}"
            self.open.discard(target)
            return f"You close the {target}."
        if m := re.fullmatch(rf"take {place} from {place}", action):
            thing, source = m[1], m[2]
            if source != self.at or self.holding or thing not in self.contents.get(source, []) or \
                    (source in OPENABLE and source not in self.open):
                return NOTHING
            self.contents[source].remove(thing)
            self.holding = thing
            return f"You pick up the {thing} from the {source}."
        if m := re.fullmatch(rf"put {place} (?:in|on|in/on) {place}", action):
            thing, target = m[1], m[2]
            if target != self.at or thing != self.holding or (target in OPENABLE and target not in self.open):
                return NOTHING
            self.contents[target].append(thing)
            self.holding = ""
            return f"You put the {thing} in/on the {target}."
        if m := re.fullmatch(rf"clean {place} with {place}", action):
            thing, sink = m[1], m[2]
            if sink not in SINKS or sink != self.at or thing != self.holding:
                return NOTHING
            self.clean.add(thing)
            return f"You clean the {thing} using the {sink}."
        if action == "look":
            return f"You are facing the {self.at}." if self.at else "You are in the middle of a kitchen."
        if action == "inventory":
            return f"You are carrying: a {self.holding}." if self.holding else "You are not carrying anything."
        return NOTHING


_world = World()


def start() -> str:
    """Build the world afresh; what the agent sees first, and its task."""
    global _world
    _world = World()
    return (f"You are in the middle of a kitchen. Looking quickly around you, you see "
            f"{_listed(sorted(_world.contents))}.\nYour task is to: {TASK}")


def step(text: str) -> str:
    """Apply the action in the first line of `text` (as a python agent: the message it answers)."""
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    action = re.sub(r"^(>|action:)\s*", "", line.strip().strip("`").strip().lower()).rstrip(".")
    return _world.act(re.sub(r"\s+", " ", action))


def solved() -> bool:
    """Whether the task is done: the goal object, cleaned, in the goal receptacle."""
    thing, target = GOAL
    return thing in _world.contents[target] and thing in _world.clean
