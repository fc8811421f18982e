"""`select by NAME` (a def or Python function picks a group's next speaker) and `select auto(prompt=…)`."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest
from parley.compiler import plan as p
from parley.compiler.validate import problems
from parley.runtime.conversations import SELECT_INSTRUCTION
from parley.runtime.scripted import ScriptedModel

import parley

AGENTS = ''.join(f'agent {n}:\n    """You are {n.upper()}."""\n' for n in "abc")
ASKED = "Reply with the name of the next speaker only."


def selections(model: ScriptedModel) -> list[str]:
    return [r.messages[0].content for r in model.requests if ASKED in r.messages[0].content]


def run(source: str, model: ScriptedModel, path: Path | None = None) -> parley.RunResult:
    if path is None:
        return parley.compile(source, "t.agent").run(model=model)
    path.write_text(source, encoding="utf-8")
    return parley.load(path).run(model=model)


def test_a_def_picks_and_none_leaves_the_choice_to_the_model() -> None:
    source = AGENTS + ('def pick(thread, members):\n    if thread.turns == 1:\n        return "c"\n'
                       '    if thread.turns == 2:\n        return none\n    return members[0]\n'
                       't = group a, b, c:\n    "Go."\n    select by pick\n    until 5 turns\n'
                       'for m in t.messages:\n    print m.agent\n')
    model = ScriptedModel.from_data({"rules": [{"contains": ASKED, "reply": "b"}], "default": "hi"})
    result = run(source, model)
    assert result.printed == ["a", "c", "b", "a", "a"]  # the def may pick the last speaker again
    assert len(selections(model)) == 1  # the model was asked only when the def returned none


def test_a_python_function_gets_the_thread_as_dicts_and_the_members(tmp_path: Path) -> None:
    (tmp_path / "picker_mod.py").write_text(
        "import json, pathlib\nLOG = pathlib.Path(__file__).with_suffix('.log')\n"
        "def pick(thread, members):\n"
        "    with LOG.open('a') as log:\n"
        "        log.write(json.dumps([thread, members]) + '\\n')\n"
        "    first = len(thread) == 2\n"
        "    thread.clear()\n"  # its own copy
        "    return 'b' if first else None\n", encoding="utf-8")
    source = ('from python "picker_mod" import pick\n' + AGENTS
              + 't = group a, b, c:\n    "Go."\n    select by pick\n    until 3 turns\n'
                'for m in t.messages:\n    print m.agent\n')
    model = ScriptedModel.from_data({"rules": [{"contains": ASKED, "reply": "c"}], "default": "hi"})
    result = run(source, model, tmp_path / "t.agent")
    assert result.printed == ["a", "b", "c"]
    seen = [json.loads(line) for line in (tmp_path / "picker_mod.log").read_text().splitlines()]
    assert seen == [
        [[{"sender": "script", "role": "user", "content": "Go."},
          {"sender": "a", "role": "assistant", "content": "hi"}], ["a", "b", "c"]],
        [[{"sender": "script", "role": "user", "content": "Go."},
          {"sender": "a", "role": "assistant", "content": "hi"},
          {"sender": "b", "role": "assistant", "content": "hi"}], ["a", "b", "c"]],
    ]


def test_a_name_that_is_no_member_or_breaks_the_flow_is_a_run_error_naming_the_line() -> None:
    stranger = AGENTS + 'def pick(thread, members):\n    return "zed"\nt = group a, b:\n    "Go."\n' \
                        '    select by pick\n    until 3 turns\n'
    with pytest.raises(parley.RunError) as caught:
        run(stranger, ScriptedModel(default="hi"))
    assert str(caught.value) == "t.agent:9: `select by pick` chose `zed`, who is not a member of the group (a, b)"
    flowing = AGENTS + 'def pick(thread, members):\n    return "a"\nt = group a, b, c:\n    "Go."\n' \
                       '    select by pick\n    flow a -> b\n    until 3 turns\n'
    with pytest.raises(parley.RunError) as caught:
        run(flowing, ScriptedModel(default="hi"))
    assert str(caught.value) == "t.agent:9: `select by pick` chose `a`, whom `flow` does not allow to speak next (b)"


def test_the_auto_prompt_is_documented_and_can_be_replaced() -> None:
    source = AGENTS + ('t = group a, b, c:\n    "Go."\n    select auto{option}\n    until 2 turns\n')
    for option, first_line in (("", SELECT_INSTRUCTION), ('(prompt="Pick whoever knows {topic}.")', "Pick whoever knows chess.")):
        model = ScriptedModel.from_data({"rules": [{"contains": ASKED, "reply": "c"}], "default": "hi"})
        run('topic = "chess"\n' + source.format(option=option), model)
        [prompt] = selections(model)
        assert prompt.splitlines()[0] == first_line
        assert prompt.splitlines()[1:3] == ["Task: Go.", "Members:"]
    assert SELECT_INSTRUCTION in Path(__file__).parents[1].joinpath("docs/language.md").read_text(encoding="utf-8")


def test_a_plan_file_naming_no_def_for_select_by_is_refused() -> None:
    source = AGENTS + 'def pick(thread, members):\n    return none\nt = group a, b:\n    "Go."\n' \
                      '    select by pick\n    until 3 turns\n'
    plan = parley.compile(source, "t.agent").plan
    group = next(s for s in plan.body if isinstance(s, p.GroupStep))
    assert group.select_by == "pick" and problems(plan) == []
    broken = attrs.evolve(plan, body=tuple(attrs.evolve(s, select_by="pik") if s is group else s for s in plan.body))
    where = plan.body.index(group)
    assert problems(broken) == [f"body[{where}].select_by: no def or tool 'pik' is declared (did you mean 'pick'?)"]
