"""The cyclic GC paused while a script is compiled: on again after, and the host's own frozen objects left alone."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

import parley
from parley.dsl.collector import collector_paused

SCRIPT = 'agent writer:\n    """You write."""\nx = @writer Draft a note about {topic}.\ninput topic: str = "GC"\nprint x\n'


@pytest.fixture
def collector() -> Iterator[None]:
    """The collector on and nothing frozen, as a host usually has it; restored afterwards."""
    was_enabled = gc.isenabled()
    gc.enable()
    gc.unfreeze()
    try:
        yield
    finally:
        gc.unfreeze()
        if not was_enabled:
            gc.disable()


def test_the_collector_is_off_while_compiling_and_on_after(collector: None) -> None:
    seen = []
    with collector_paused():
        seen.append(gc.isenabled())
        with collector_paused():  # nested: still off, and the outer block turns it back on
            seen.append(gc.isenabled())
        seen.append(gc.isenabled())
    assert seen == [False, False, False] and gc.isenabled()
    parley.compile(SCRIPT, "gc.agent")
    assert gc.isenabled() and gc.get_freeze_count() == 0  # what it made went to the oldest generation


def test_a_host_that_freezes_objects_keeps_its_frozen_set(collector: None) -> None:
    gc.freeze()
    frozen = gc.get_freeze_count()
    assert frozen > 0
    parley.compile(SCRIPT, "gc.agent")
    assert gc.get_freeze_count() == frozen and gc.isenabled()


def test_a_cycle_made_while_compiling_is_collected_by_the_next_full_collection(collector: None) -> None:
    class Node:
        other: object

    with collector_paused():
        first, second = Node(), Node()
        first.other, second.other = second, first
        cycle = weakref.ref(first)
        del first, second
    assert cycle() is not None, "only the collector frees a cycle"
    gc.collect()
    assert cycle() is None
