"""What a turn is (docs/language.md, 13.3): one message an agent adds to a thread. The run's count (the
footer, `usage.turns`, the turn budget) and a conversation's `.turns` count the same turns."""

from __future__ import annotations

from pathlib import Path

from parley.runtime.scripted import ScriptedModel

import parley

SCRIPT = '''agent writer:
    """You write."""
agent helper:
    """You help."""
agent me is human
agent parrot is python "echoes:echo"
def consult(question: str) -> str:
    return @helper {question}
agent panel:
    reply by consult
t = chat writer, me:
    "Hello"
    until 6 turns
u = chat panel, parrot:
    "Go"
    until 4 turns
print "{t.turns} {u.turns}"
'''


def test_the_run_and_its_conversations_count_the_same_turns(tmp_path: Path) -> None:
    (tmp_path / "echoes.py").write_text("def echo(text):\n    return 'echo: ' + text[:10]\n")
    (tmp_path / "t.agent").write_text(SCRIPT)
    answers = iter(["one", ""])  # the person's empty answer ends the chat: no message, so no turn
    result = parley.load(str(tmp_path / "t.agent")).run(model=ScriptedModel.from_data({"default": "ok"}),
                                                          human=lambda agent, prompt: next(answers))
    turns = [(e.data["agent"], e.data.get("conversation")) for e in result.events if e.kind == "turn"]
    assert result.printed == ["3 4"]  # writer, me, writer; panel, parrot, panel, parrot
    assert [a for a, c in turns if c == "s3"] == ["writer", "me", "writer"]
    assert [a for a, _ in turns].count("helper") == 2  # the turns inside `panel`'s replies count in the run
    assert result.usage["turns"] == len(turns) == 3 + 4 + 2
