"""Script values are bounded: a value that would pass a limit stops the run with a value error naming
its line, at once and in bounded memory; never a `MemoryError`, a `RecursionError` or a machine out
of memory. The limits are runtime/sizes.py's (documented in docs/language.md, "Limits")."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
from parley.compiler import plan as p
from parley.dsl.errors import FailureKind
from parley.runtime.evaluate import Frame, copied, show
from parley.runtime.scripted import ScriptedModel
from parley.runtime.sizes import MAX_ITEMS, MAX_SIZE, MAX_TEXT, measure, place

import parley

#: Each refused case takes less than this (CPU seconds of this process; the slowest takes about 1.2 s alone,
#: and a loaded 2-core machine slows CPU time too: caches and memory bandwidth are shared).
SECONDS = 4.0


def run(source: str) -> Any:
    return parley.compile(source, "t.agent").run(model=ScriptedModel(default="OK"))


def refused(source: str) -> str:
    """The message of the value error `source` stops with; it names the line and comes quickly."""
    start = time.process_time()
    with pytest.raises(parley.RunError) as caught:
        run(source)
    assert time.process_time() - start < SECONDS
    assert caught.value.kind is FailureKind.VALUE and caught.value.exit_code == 3
    return str(caught.value)


CASES = [
    # texts
    ('x = "a" * 10 ** 12\n', 1, "`*` would make a text of 1,000,000,000,000 characters"),
    ('x = 10 ** 12 * "a"\n', 1, "`*` would make a text of 1,000,000,000,000 characters"),
    ('s = "a"\nrepeat 100:\n    s = s + s\n', 3, "`+` would make a text of 16,777,216 characters"),
    ('s = "a"\nrepeat 100:\n    s = "{s}{s}"\n', 3, "the text would make a text of more than 10,000,000"),
    ('s = "a" * 6000000\nt = join([s, s], "-")\n', 2, "join() would make a text of more than 10,000,000"),
    ('s = "a" * 4000000\nt = replace(s, "a", "abc")\n', 2, "replace() would make a text of 12,000,000"),
    ('s = "ab" * 4000000\nt = replace(s, "", "--")\n', 2, "replace() would make a text of 24,000,002"),
    ('s = "a" * 6000000\nt = s + [s]\n', 2, "`+` would make a text of"),
    ('x = range(1000000)\ny = json(x, indent=16)\n', 2, "the JSON text would make a text of more than 10,000"),
    ('x = [range(600000), range(600000)]\n', 1, "a value would hold more than 1,000,000 items"),
    ('x = range(1000000)\nprint "{x}{x}"\n', 2, "the text would make a text of more than 10,000,000"),
    ('print "%0999999999d" % 1\n', 1, "`%` is the remainder of two numbers"),
    # lists and dicts
    ("r = range(10**12)\n", 1, "range() would make 1,000,000,000,000 items"),
    ("r = range(0, 10**100, 3)\n", 1, "range() would make 3,333,333,333"),
    ("x = [0] * 10 ** 9\n", 1, "`*` would make 1,000,000,000 items"),
    ("l = [1]\nrepeat 100:\n    l = l + l\n", 3, "`+` would make 1,048,576 items"),
    ('t = "a," * 2000000\nx = split(t, ",")\n', 2, "split() would make 2,000,001 items"),
    ("x = range(1000000)\ny = append(x, 1)\n", 2, "a list of 1,000,001 items is too long"),
    # a value sharing its parts is as large as it is written out
    ("x = [1]\nrepeat 100:\n    x = [x, x]\n", 3, "a value would hold more than 1,000,000 items"),
    ('s = "a" * 9000000\nd = {}\nd["a"] = s\nd["b"] = s\nd["c"] = s\n', 5, "larger than 20,000,000"),
    ('s = "a" * 1000\nx = [s] * 1000000\n', 2, "a value would be larger than 20,000,000 characters"),
    # nesting
    ("x = []\nrepeat 100000:\n    x = [x]\n", 3, "nested more than 100 deep"),
    ('d = {}\nrepeat 100000:\n    d = {"k": d}\n', 3, "nested more than 100 deep"),
    ("x = [0]\nrepeat 100000:\n    x[0] = x\n", 3, "nested more than 100 deep"),
    ("x = []\nrepeat 100000:\n    x = append([], x)\n", 3, "nested more than 100 deep"),
    ('x = parse_json("[" * 200000)\n', 1, "200,000 deep"),
    # integers
    ("x = 10 ** 5000\n", 1, "`**` would make an integer of more than 4,300 digits"),
    ("x = 2\nrepeat 100:\n    x = x * x\n", 3, "an integer would have more than 4,300 digits"),
    ("x = 10 ** 10 ** 10\n", 1, "a power above 10,000"),
    ("x = round(1, -100000000)\n", 1, "round() to -100,000,000 digits"),
    ('x = int("9" * 100000)\n', 1, "int() of a text of more than 4,300 digits"),
    ('x = (-8) ** 0.5\n', 1, "complex number"),
]


@pytest.mark.parametrize("source, line, message", CASES, ids=[c[2][:40] for c in CASES])
def test_a_value_past_a_limit_stops_the_run_naming_its_line(source: str, line: int, message: str) -> None:
    failure = refused(source)
    assert failure.startswith(f"t.agent:{line}:") and message in failure, failure


def test_values_within_the_limits_are_built() -> None:
    source = ('s = "a" * 10000000\nprint len(s)\nl = range(1000000)\nprint len(l)\nx = []\n'
              'repeat 99:\n    x = [x]\nprint len(json(x))\nprint len(str(10 ** 4299))\n'
              'print len(replace("ab" * 1000, "a", "xyz"))\nprint len(json(range(100), indent=2))\n')
    indented = len(json.dumps(list(range(100)), indent=2))
    assert run(source).printed == ["10000000", "1000000", "200", "4300", "4000", str(indented)]


def test_filling_a_dict_or_list_item_by_item_stays_linear() -> None:
    """The variable an item assignment grows is not measured again at every assignment."""
    start = time.process_time()
    source = ("d = {}\nl = [0] * 20000\nfor i in range(20000):\n    d[str(i)] = i\n    l[i] = i\n"
              "print len(d)\nprint sum(l)\n")
    assert run(source).printed == ["20000", str(sum(range(20000)))]
    assert time.process_time() - start < 5 * SECONDS


def test_values_are_copied_whole_when_assigned() -> None:
    """A list holding another twice holds two copies: changing one leaves the other."""
    assert run("y = [1]\nx = [y, y]\nx[0][0] = 5\nprint x\nprint y\n").printed == ["[[5], [1]]", "[1]"]


def test_a_refused_item_assignment_leaves_the_value_as_it_was() -> None:
    big = "a" * (MAX_SIZE // 3)
    frame = Frame({"d": {"a": big, "b": big}})
    target = p.ItemTarget(value=p.Var(name="d"), index=p.Const(value="c"))
    with pytest.raises(parley.RunError, match="larger than"):
        place(frame, target, frame.variables["d"], "c", big)
    assert list(frame.variables["d"]) == ["a", "b"]
    place(frame, target, frame.variables["d"], "b", "small")  # replacing keeps within the limits
    assert frame.variables["d"]["b"] == "small"


def test_deep_and_shared_values_are_measured_and_copied_without_recursion_errors() -> None:
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    for use in (measure, copied, show):
        with pytest.raises(parley.RunError, match="nested more than 100 deep"):
            use(deep)
    shared: Any = [1]
    for _ in range(60):
        shared = [shared, shared]  # 2 ** 60 items written out, 61 lists in memory
    start = time.process_time()
    with pytest.raises(parley.RunError, match="more than 1,000,000 items"):
        copied(shared)
    assert time.process_time() - start < SECONDS
    assert measure([["ab"] * 3, {"k": 12}]).depth == 2
    assert len(copied(["x" * MAX_TEXT])[0]) == MAX_TEXT and len(copied([0] * MAX_ITEMS)) == MAX_ITEMS
    with pytest.raises(parley.RunError, match="more than 1,000,000 items"):
        measure([[0] * (MAX_ITEMS // 2)] * 2)  # the items of the lists inside count too


#: Runs each script in a fresh interpreter and prints its error and how much its peak memory grew (KB).
_MEMORY = """
import json, resource, sys
import parley
from parley.runtime.scripted import ScriptedModel
grown = {}
for source in json.loads(sys.argv[1]):
    program = parley.compile(source, "t.agent")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        program.run(model=ScriptedModel(default="OK"))
        message = "no error"
    except parley.RunError as error:
        message = str(error)
    grown[source] = [message, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before]
print(json.dumps(grown))
"""


def test_memory_stays_bounded_while_values_are_refused() -> None:
    scripts = ['s = "a"\nrepeat 100:\n    s = s + s\n', 'x = "a" * 10 ** 12\n', "x = [0] * 10 ** 9\n",
               "l = [1]\nrepeat 100:\n    l = l + l\n", "x = [1]\nrepeat 100:\n    x = [x, x]\n",
               "r = range(10**12)\n", "x = 2\nrepeat 100:\n    x = x * x\n"]
    ran = subprocess.run([sys.executable, "-c", _MEMORY, json.dumps(scripts)], capture_output=True, text=True,
                         timeout=120, check=False)
    assert ran.returncode == 0, ran.stderr
    for source, (message, grown_kb) in json.loads(ran.stdout).items():
        assert message.startswith("t.agent:") and "values are bounded" in message, (source, message)
        assert grown_kb < 200_000, (source, grown_kb)  # a peak under 200 MB above where it started


#: `python -m parley` with Ctrl-C as at a terminal (a process started in the background inherits SIGINT ignored).
_PARLEY_MAIN = ("import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
                "runpy.run_module('parley', run_name='__main__', alter_sys=True)")


def test_ctrl_c_stops_a_loop_that_waits_for_nothing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "spin.agent"
    path.write_text('print "started"\nx = 0\nrepeat 1000000000:\n    x += 1\n')
    process = subprocess.Popen([sys.executable, "-c", _PARLEY_MAIN, "run", "--no-store", str(path)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "started"
        time.sleep(0.3)  # well inside the loop
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 130 and "interrupted" in stderr, stderr
