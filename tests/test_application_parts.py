"""What the math, retrieval, household and supply-chain applications' own parts do, and their other paths.

tests/test_applications.py pins the good run of each; these check the parts it
cannot see: the household world's refusals and its goal, the help centre's
ranking and a retriever that runs out of passages, the coffee model and how code
is written into it, and that code the safeguard never passes never runs.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import parley
from parley.runtime.scripted import ScriptedModel
from helpers import EXAMPLES

def _lib(name: str) -> ModuleType:
    """A fresh copy of an examples/lib module, with its own state."""
    spec = importlib.util.spec_from_file_location(f"{name}_under_test", EXAMPLES / "lib" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _turns(result: Any) -> list[tuple[str, str]]:
    return [(e.data["agent"], e.data["text"]) for e in result.events if e.kind == "turn"]


# The household world


@pytest.fixture
def world() -> ModuleType:
    module = _lib("household")
    assert "Your task is to: put a clean mug in coffeemachine 1." in module.start()
    return module


@pytest.mark.parametrize("actions", [
    ["take mug 1 from cabinet 1"],  # not at the cabinet
    ["go to cabinet 1", "take mug 1 from cabinet 1"],  # the cabinet is closed
    ["go to countertop 1", "open countertop 1"],  # a countertop does not open
    ["go to cabinet 1", "open cabinet 1", "open cabinet 1"],  # already open
    ["go to countertop 1", "take mug 1 from countertop 1"],  # no mug there
    ["go to sinkbasin 1", "clean mug 1 with sinkbasin 1"],  # not holding it
    ["go to cabinet 1", "open cabinet 1", "take mug 1 from cabinet 1", "clean mug 1 with cabinet 1"],  # no sink
    ["go to cabinet 1", "open cabinet 1", "take mug 1 from cabinet 1", "take plate 1 from cabinet 1"],  # hands full
    ["go to garage 1"], ["dance"],
])
def test_an_action_that_cannot_be_done_changes_nothing(world: ModuleType, actions: list[str]) -> None:
    *before, last = actions
    for action in before:
        assert world.step(action) != world.NOTHING, action
    state = (dict(world._world.contents), set(world._world.open), world._world.at, world._world.holding)
    assert world.step(last) == "Nothing happens."
    assert state == (dict(world._world.contents), set(world._world.open), world._world.at, world._world.holding)


def test_the_task_needs_the_mug_clean_and_in_the_coffee_machine(world: ModuleType) -> None:
    for action in ["go to cabinet 1", "open cabinet 1", "take mug 1 from cabinet 1", "go to coffeemachine 1"]:
        world.step(action)
    assert world.step("put mug 1 in/on coffeemachine 1") == "You put the mug 1 in/on the coffeemachine 1."
    assert not world.solved()  # not cleaned
    for action in ["take mug 1 from coffeemachine 1", "go to sinkbasin 1", "clean mug 1 with sinkbasin 1",
                   "go to coffeemachine 1"]:
        assert world.step(action) != world.NOTHING, action
    assert world.step("> Put mug 1 in coffeemachine 1.\nThe mug is clean now.") == \
        "You put the mug 1 in/on the coffeemachine 1."  # the first line, as a model may write it
    assert world.solved()
    world.start()
    assert not world.solved() and world.step("inventory") == "You are not carrying anything."


def test_the_grounding_agent_speaks_after_two_failures_in_a_row_only() -> None:
    rules = {"rules": [{"system": "commonsense hints", "reply": "Go to the cabinet first."},
                       {"system": "household text world",
                        "replies": ["take mug 1", "go to cabinet 1", "take mug 1", "open cabinet 1", "dance",
                                    "fly", "look"]}]}
    program = parley.load(EXAMPLES / "household.agent")
    with pytest.raises(parley.RunError, match="turn budget") as stopped:
        program.run(model=ScriptedModel.from_data(rules), limits={"turns": 16})
    speakers = [agent for agent, _ in _turns(stopped.value.result)]
    assert speakers[:13] == ["assistant", "world", "assistant", "world", "assistant", "world",  # fail, ok, fail
                             "assistant", "world", "assistant", "world", "assistant", "world",  # ok, fail, fail
                             "grounding"]


# The help centre


def test_retrieval_ranks_deterministically_and_pages_on() -> None:
    helpdesk = _lib("helpdesk")
    question = "I left an e-bike outside a dock overnight. What will I be charged?"
    ranked = helpdesk.retrieve(question, k=len(helpdesk.PASSAGES))
    assert sorted(ranked) == sorted(helpdesk.PASSAGES)
    assert ranked.index("Unreturned bikes") == 2  # the answer is not among the first two: one UPDATE CONTEXT
    assert helpdesk.retrieve(question, 2, skip=2) == ranked[2:4]
    assert helpdesk.retrieve("How much is a day pass?", 1) == ["Day passes"]
    assert helpdesk.retrieve(question, 3, skip=len(ranked)) == []


def test_the_retriever_reads_what_it_handed_out_from_the_thread() -> None:
    helpdesk = _lib("helpdesk")
    thread = [{"sender": "script", "role": "user", "content": "How much is a day pass?"}]
    first = helpdesk.retriever("How much is a day pass?", thread)
    assert first.startswith("Context:\n[Day passes]") and first.endswith("Question: How much is a day pass?")
    thread += [{"sender": "retriever", "role": "assistant", "content": first},
               {"sender": "assistant", "role": "user", "content": "It depends."}]
    assert helpdesk.retriever("It depends.", thread).startswith("Answer from the context you have")
    second = helpdesk.retriever("UPDATE CONTEXT", thread)
    assert first.count("\n[") == second.count("\n[") == 2  # two passages a round
    assert "[Day passes]" not in second and "[Refunds]" not in second  # the next two


def test_a_question_the_corpus_cannot_answer_stops_when_the_passages_run_out() -> None:
    program = parley.load(EXAMPLES / "retrieval_qa.agent")
    result = program.run(model=ScriptedModel(default="UPDATE CONTEXT"))
    assert result.printed[-1] == "No answer after 5 rounds of retrieval (until condition met)."
    assert _turns(result)[-1][1].startswith("NO MORE CONTEXT")
    assert result.output == {"answer": None, "rounds": 5}


# The coffee supply chain


def test_the_model_runs_on_its_own_and_code_is_written_in_at_the_marker(tmp_path: Path) -> None:
    coffee = _lib("coffee")
    ran = subprocess.run([sys.executable, str(EXAMPLES / "lib" / "coffee_model.py")], capture_output=True,
                         text=True, check=True)
    current, what_if = ran.stdout.splitlines()
    assert current.startswith("Current plan: $800 ")
    assert what_if == current.replace("Current plan", "What-if plan")  # no rule: the same plan
    assert coffee.with_constraint("No code here.") == ""
    rule = 'constraints.append(lambda source, serve: source["roastery2"] != "supplier1")'
    program = coffee.with_constraint(f"Here:\n```python\n{rule}\n```\nDone.")
    assert program.startswith("```python\n") and program.endswith("```")
    assert f"{coffee.MARKER}\n{rule}\n" in program
    head = coffee.model_head()  # what the writer reads: the data and names, up to the marker
    assert head.endswith(coffee.MARKER + "\n") and "DEMAND = " in head and "def best" not in head
    script = tmp_path / "what_if.py"
    script.write_text(program.removeprefix("```python\n").removesuffix("```"))
    changed = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True)
    changed_plan = changed.stdout.splitlines()[1]
    assert changed_plan.startswith("What-if plan: $880 (roastery1 buys from supplier3, roastery2 idle")


def test_code_the_safeguard_never_passes_never_runs() -> None:
    rules = {"rules": [{"system": "You check code", "reply": "DANGER: it deletes files."},
                       {"system": "You change a coffee",
                        "reply": "```python\nimport shutil\nshutil.rmtree('/')\n```"}]}
    typed = iter(["What if we prohibit shipping from supplier1 to roastery2?", ""])
    program = parley.load(EXAMPLES / "supply_chain.agent")
    result = program.run(model=ScriptedModel.from_data(rules), allow_code=True,
                         human=lambda agent, prompt: next(typed, ""))
    speakers = [agent for agent, _ in _turns(result)]
    assert "runner" not in speakers and speakers.count("safeguard") == 3  # the nested chat's 6 turns
    assert result.printed[1] == "commander: The safeguard did not pass the code: DANGER: it deletes files."
