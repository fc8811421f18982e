"""Python agents that take the conversation: the signature decides what they get (runtime/python_thread.py)."""

from __future__ import annotations

import json
from pathlib import Path

from parley.runtime.python_thread import Shape, shape
from parley.runtime.scripted import ScriptedModel

import parley

MODULE = '''
import json

def echo(text):
    return "echo " + text

def both(text, thread):
    thread.append({"sender": "intruder", "role": "user", "content": "x"})  # its own copy: the run never sees it
    return json.dumps({"text": text, "thread": thread[:-1]})

def only(messages):
    return "|".join(m["sender"] + "/" + m["role"] for m in messages)

async def later(text, *, thread):
    return str(len(thread))
'''


def run(tmp_path: Path, module: str, source: str) -> parley.RunResult:
    (tmp_path / f"{module}.py").write_text(MODULE, encoding="utf-8")
    (tmp_path / "t.agent").write_text(source.replace("MOD", module), encoding="utf-8")
    return parley.load(tmp_path / "t.agent").run(model=ScriptedModel(default="draft"))


def test_signatures_decide_what_a_python_agent_gets() -> None:
    def text(a): ...
    def pair(a, b): ...
    def optional(a, b=1): ...
    def by_name(messages): ...
    def keyword(a, *, thread): ...
    assert [shape(f) for f in (text, pair, optional, by_name, keyword, len)] == [
        Shape(("text",)), Shape(("text", "thread")), Shape(("text",)), Shape(("thread",)),
        Shape(("text",), "thread"), Shape(("text",))]


def test_a_group_member_sees_senders_and_roles_and_cannot_change_the_thread(tmp_path: Path) -> None:
    (tmp_path / "team.agent").write_text('agent writer:\n    """You write."""\n', encoding="utf-8")
    source = ('from "team.agent" import writer\nagent judge is python "MOD:both"\n'
              't = group writer, judge:\n    "Write a haiku."\n    select round_robin\n    until 4 turns\n'
              'print t.last\n')
    result = run(tmp_path, "thread_mod_a", source)
    last = json.loads(result.printed[0])
    assert last["text"] == "draft"
    assert last["thread"] == [
        {"sender": "script", "role": "user", "content": "Write a haiku."},
        {"sender": "team.writer", "role": "user", "content": "draft"},
        {"sender": "judge", "role": "assistant", "content": json.dumps(
            {"text": "draft", "thread": [{"sender": "script", "role": "user", "content": "Write a haiku."},
                                         {"sender": "team.writer", "role": "user", "content": "draft"}]})},
        {"sender": "team.writer", "role": "user", "content": "draft"},
    ]


def test_asks_give_the_scripts_thread_and_text_only_agents_are_unchanged(tmp_path: Path) -> None:
    source = ('agent p is python "MOD:only"\nagent e is python "MOD:echo"\nagent k is python "MOD:later"\n'
              'a = @p "one"\nb = @p "two"\nprint b\nprint @e "hi"\nprint @k "x"\n')
    result = run(tmp_path, "thread_mod_b", source)
    assert result.printed == ["script/user|p/assistant|script/user", "echo hi", "1"]
