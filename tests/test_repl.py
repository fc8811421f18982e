"""`parley repl`: the session engine, piped sessions, and a real terminal session driven with pexpect."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest
from fake_openai import fake_openai_fixture, reply  # noqa: F401  (registers the `fake_openai` fixture)
from helpers import ROOT

from parley._repl_text import is_complete
from parley.session import Session
from parley.runtime.scripted import ScriptedModel

RULES = ROOT / "tests" / "repl_rules.json"
WRITER = 'agent writer:\n    """You are a concise writer."""'
CRITIC = 'agent critic:\n    "You review drafts."'


# --- reading entries ---------------------------------------------------------------------


@pytest.mark.parametrize(("text", "complete"), [
    ("x = 1", True),
    ("agent writer is human", True),
    ("agent writer:", False),
    ('agent writer:\n    "You write."', False),
    ('agent writer:\n    "You write."\n', True),
    ("r = chat writer, critic:", False),
    ('if @you? "Ready?":', False),
    ("x = [1,", False),
    ("x = [1,\n    2]", True),
    ('@writer """', False),
    ('@writer """\nA long message.\n"""', True),
    ("@writer Draft a list (of three items:", True),  # prose: its brackets and colons are text
    ("x = @writer Say it like this:", True),
    ('print "a: {x}"  # note:', True),
    ('agent writer:\n    """You write.\n\n    Briefly."""', False),  # an empty line inside a string
])
def test_an_entry_is_complete_when_nothing_is_left_open(text: str, complete: bool) -> None:
    assert is_complete(text) is complete


def test_completion_offers_agents_names_keywords_and_commands() -> None:
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    from parley._repl_prompt import _Completer

    names = {"agents": ["writer", "critic"], "variables": ["draft"], "other": ["smart"]}
    completer = _Completer(lambda: names, ["help", "history", "plan"], ["len"])

    def offered(text: str) -> list[str]:
        return [c.text for c in completer.get_completions(Document(text), CompleteEvent(completion_requested=True))]

    assert offered("@") == ["@writer", "@critic"]
    assert offered("@w") == ["@writer"]
    assert offered("x = dr") == ["draft"]
    assert offered("wh") == ["while"]
    assert offered("l") == ["len"]
    assert offered(":h") == [":help", ":history"]
    assert offered(":history c") == ["critic"]
    assert offered(":plan a") == ["all"]
    assert offered("@writer Draft a") == []  # prose is the user's own words
    assert offered("@writer Draft {dr") == ["draft"]  # but an interpolation holds names


def test_highlighting_marks_code_and_leaves_prose_plain() -> None:
    from parley._repl_prompt import highlighted

    assert [f for f in highlighted('if x > 1:  # big') if f[0]] == [
        ("class:keyword", "if"), ("class:number", "1"), ("class:comment", "# big")]
    assert highlighted("@writer if you can, shorter") == [("class:agent", "@writer"), ("", " if you can, shorter")]
    assert highlighted(':save idea.agent') == [("class:meta", ":save idea.agent")]


# --- the session engine ------------------------------------------------------------------


class _Run:
    """A session on the scripted model, driven from a test; events collected."""

    def __init__(self, **options: Any) -> None:
        self.events: list[Any] = []
        self.session = Session(model=f"scripted:{RULES}", on_event=self.events.append, **options)

    @property
    def model(self) -> ScriptedModel:
        return self.session.runtime.model  # type: ignore[return-value]

    def enter(self, *entries: str) -> Any:
        outcome = None
        for entry in entries:
            outcome = asyncio.run(self.session.submit(entry))
        return outcome


@pytest.fixture
def repl() -> Iterator[_Run]:
    run = _Run()
    yield run
    asyncio.run(run.session.close())


def test_asks_continue_the_same_thread_across_entries(repl: _Run) -> None:
    assert repl.enter(WRITER, "@writer hi").ok
    assert repl.enter("@writer shorter").ok
    last = repl.model.requests[-1]
    assert [m.content for m in last.messages] == [
        "You are a concise writer.", "hi", "Lark turns grammars into parsers for text.", "shorter"]
    assert repl.session.script() == f'{WRITER}\n\n@writer hi\n@writer shorter\n'


def test_variables_persist_and_an_expression_shows_its_value_without_being_kept(repl: _Run) -> None:
    repl.enter("x = 20", "y = x + 1")
    outcome = repl.enter("y * 2")
    assert outcome.ok and outcome.has_value and outcome.value == 42
    assert repl.enter('"y is {y}"').value == "y is 21"
    assert repl.session.script() == "x = 20\ny = x + 1\n"
    assert repl.session.variables() == {"x": 20, "y": 21}


def test_a_call_with_effects_is_kept_and_shows_its_value(repl: _Run) -> None:
    repl.enter(WRITER, 'def pitch(topic: str) -> str:\n    return @writer Pitch {topic}.\n')
    outcome = repl.enter('pitch("Lark")')
    assert outcome.value == "Lark turns grammars into parsers for text."
    assert repl.session.script().rstrip().endswith('pitch("Lark")')


def test_a_compile_error_points_into_the_entry_and_leaves_the_session_as_it_was(repl: _Run) -> None:
    repl.enter(WRITER, "@writer hi")
    before = repl.session.script()
    outcome = repl.enter("draft = @writr Draft it.")
    assert outcome.status == "error" and outcome.exit_code == 1
    assert outcome.messages[0].splitlines()[:4] == [
        "<repl:3>:1:9: error[P202]: unknown agent `writr`",
        "  |",
        "1 | draft = @writr Draft it.",
        "  |         ^^^^^^ not declared in this script",
    ]
    assert "did you mean `writer` (declared at <repl:1>:1:7)?" in outcome.messages[0]
    assert repl.session.script() == before
    assert repl.enter("draft = @writer Draft it.").ok  # recovers


def test_an_error_in_a_block_is_counted_from_the_entry_s_first_line(repl: _Run) -> None:
    repl.enter(WRITER)
    outcome = repl.enter('for word in ["a", "b"]:\n    print wrod\n')
    assert outcome.messages[0].startswith("<repl:2>:2:11: error[P201]: unknown name `wrod`")
    assert "2 |     print wrod" in outcome.messages[0]


def test_a_syntax_error_is_reported_against_the_entry_alone(repl: _Run) -> None:
    outcome = repl.enter("while true:\n    print 1\n")
    assert outcome.status == "error"
    assert outcome.messages[0].startswith("<repl:1>:1:")
    assert "P135" in outcome.messages[0]


def test_unused_variable_warnings_are_not_shown_but_other_warnings_of_the_entry_are(repl: _Run) -> None:
    repl.enter(WRITER, CRITIC)
    assert repl.enter("unused = 1").messages == []
    outcome = repl.enter('chat writer, critic:\n    "Improve it."\n    until critic says "APPROVED"\n')
    assert outcome.ok
    assert [m.splitlines()[0] for m in outcome.messages] == [
        "<repl:4>:3:11: warning[P260]: this chat's `until` sets no turn limit, so the default of 10 applies"]


def test_a_run_failure_is_reported_and_the_entry_is_not_kept(repl: _Run) -> None:
    repl.enter("x = 1")
    outcome = repl.enter("y = x / 0")
    assert outcome.status == "failed" and outcome.exit_code == 3
    assert outcome.failure is not None and outcome.failure.startswith("<repl:2>:1: cannot compute a value here")
    assert repl.session.script() == "x = 1\n"
    assert repl.enter("y = x / 1").ok


def test_a_declaration_again_replaces_the_earlier_one_and_keeps_the_thread(repl: _Run) -> None:
    repl.enter(WRITER, "@writer hi")
    outcome = repl.enter('agent writer:\n    """You are a concise poet."""')
    assert outcome.ok and outcome.replaced == ["writer"]
    assert repl.enter("@writer again").ok
    request = repl.model.requests[-1]
    assert request.messages[0].content == "You are a concise poet."
    assert len(request.messages) == 4  # the thread goes on
    assert repl.session.script().count("agent writer") == 1


def test_steps_of_earlier_entries_do_not_run_again(repl: _Run) -> None:
    repl.enter(WRITER, CRITIC, "a = @writer hi")
    repl.enter("b = @critic Look at {a}.")  # compiled with `a = …` into one concurrent group
    asked = [r.messages[0].content for r in repl.model.requests]
    assert asked == ["You are a concise writer.", "You review drafts."]


def test_cancelling_an_entry_restores_threads_and_variables(repl: _Run) -> None:
    repl.enter(WRITER, "@writer hi", "n = [1]")

    async def cancelled() -> None:
        task = asyncio.ensure_future(repl.session.submit('n[0] = 2\n@writer slow please\n'))
        while not repl.model.requests or "slow" not in repl.model.requests[-1].messages[-1].content:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancelled())
    assert len(repl.session.thread("writer")) == 2
    assert repl.session.variables()["n"] == [1]
    assert "slow" not in repl.session.script()
    assert repl.enter("@writer shorter").ok


def test_loading_a_file_takes_its_declarations_and_running_it_its_statements(tmp_path: Path) -> None:
    script = tmp_path / "idea.agent"
    script.write_text(f"# An idea.\n{WRITER}\n\ninput topic: str = \"Lark\"\n\ndraft = @writer About {{topic}}.\n"
                      "print draft\n")
    run = _Run(folder=tmp_path)
    try:
        assert asyncio.run(run.session.load(script)).ok
        assert run.model.requests == []
        assert run.session.variables() == {"topic": "Lark"}
        assert asyncio.run(run.session.load(script, run=True)).ok
        assert [e.data["text"] for e in run.events if e.kind == "print"] == [
            "Lark turns grammars into parsers for text."]
        assert [e.line for e in run.events if e.kind == "turn"] == [7]  # the file's own line
    finally:
        asyncio.run(run.session.close())


def test_a_file_s_errors_keep_its_name_and_lines(tmp_path: Path) -> None:
    script = tmp_path / "bad.agent"
    script.write_text(f"{WRITER}\n\nagent critic:\n    model: nothing\n")
    run = _Run()
    outcome = asyncio.run(run.session.load(script))
    assert outcome.status == "error"
    assert outcome.messages[0].startswith(f"{script}:5:12: error[P203]: unknown model `nothing`")


def test_inputs_take_their_default_or_the_given_value_or_fail(repl: _Run) -> None:
    assert repl.enter('input topic: str = "Lark"', "print topic").ok
    outcome = repl.enter("input words: int")
    assert outcome.status == "failed" and outcome.exit_code == 2
    assert "input `words` has no value" in (outcome.failure or "")
    given = _Run(inputs={"words": "80"})
    try:
        assert given.enter("input words: int", "w = words + 1").ok
        assert given.session.variables()["w"] == 81
    finally:
        asyncio.run(given.session.close())


def test_the_last_entry_s_plan_has_the_entry_s_own_lines(repl: _Run) -> None:
    from parley.compiler.draw import plan_tree

    repl.enter(WRITER, "x = 1")
    repl.enter('if x > 0:\n    @writer hi\n')
    assert plan_tree(repl.session.last_plan).splitlines() == [
        "plan <repl:3> (version 5)", "declarations:", "body:",
        "   1  if      x > 0", '   2    ask     @writer "hi"']
    assert plan_tree(repl.session.plan).splitlines()[0] == "plan <session> (version 5)"


def test_the_saved_script_compiles_and_runs(repl: _Run, tmp_path: Path) -> None:
    repl.enter("x = 1", WRITER, "x + 1", "@writer hi", CRITIC, 'review = chat writer, critic:\n    "Go."\n'
               '    until critic says "APPROVED" or 4 turns\n', "print review.last")
    target = tmp_path / "saved.agent"
    text = repl.session.save(target)
    assert text.index("agent critic") < text.index("x = 1")  # declarations first
    assert "x + 1" not in text
    checked = _parley("check", str(target))
    assert checked.returncode == 0, checked.stdout
    ran = _parley("run", str(target), "--model", f"scripted:{RULES}", "--no-store")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "APPROVED"


def test_switching_the_model_keeps_the_session(repl: _Run, tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text('{"rules": [], "default": "From the other model."}')
    repl.enter(WRITER, "@writer hi")
    asyncio.run(repl.session.set_model(f"scripted:{other}"))
    assert repl.enter('x = @writer "again"').ok
    assert repl.session.variables()["x"] == "From the other model."
    assert len(repl.session.thread("writer")) == 4


def test_declared_models_are_found_beside_the_session_and_a_model_declared_again_is_reopened(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{"rules": [], "default": "From A."}')
    (tmp_path / "b.json").write_text('{"rules": [], "default": "From B."}')
    session = Session(folder=tmp_path)

    async def entries() -> list[Any]:
        for entry in ['model m = scripted("a.json")', 'agent writer:\n    "You write."\n    model: m',
                      'x = @writer "hi"', 'model m = scripted("b.json")', 'y = @writer "again"']:
            assert (await session.submit(entry)).ok, entry
        await session.close()
        return [session.variables()["x"], session.variables()["y"]]

    assert asyncio.run(entries()) == ["From A.", "From B."]


def test_a_session_on_an_openai_compatible_server_keeps_its_thread_and_survives_a_cancelled_turn(
        fake_openai: Any) -> None:
    fake_openai.script("A draft.", reply("Too late.", delay=30), "Shorter.")
    session = Session(model="test-model", base_url=fake_openai.base_url)

    async def entries() -> None:
        assert (await session.submit(WRITER)).ok
        assert (await session.submit("@writer Draft it.")).ok
        slow = asyncio.ensure_future(session.submit("@writer Again, slowly."))
        while len(fake_openai.requests) < 2:
            await asyncio.sleep(0.01)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        assert (await session.submit("short = @writer shorter")).ok
        await session.close()

    asyncio.run(entries())
    assert session.variables()["short"] == "Shorter."
    assert [m["content"] for m in fake_openai.requests[-1]["messages"]] == [
        "You are a concise writer.", "Draft it.", "A draft.", "shorter"]


# --- piped input -------------------------------------------------------------------------


def _parley(*args: str, stdin: str = "", cwd: Path | None = None, env: dict[str, str] | None = None,
            merged: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "parley", *args], check=False, input=stdin, capture_output=not merged,
                          stdout=subprocess.PIPE if merged else None, stderr=subprocess.STDOUT if merged else None,
                          text=True, cwd=cwd or ROOT, env=env, timeout=120)


PIPED = f"""\
{WRITER}

{CRITIC}

@writer Draft a blurb about Lark.
@writer shorter
words = len(split("one two three"))
words * 2
draft = @writr Again.
draft = @writer Again.
review = chat writer, critic:
    "Improve this: {{draft}}"
    until critic says "APPROVED" or 6 turns

review.turns
:agents
:vars
:history writer
:plan
:nonsense
:save saved.agent
"""


def test_a_piped_session_transcript(tmp_path: Path, snapshot: Any) -> None:
    shutil.copy(RULES, tmp_path / "rules.json")
    result = _parley("repl", "--echo", "--model", "scripted:rules.json", stdin=PIPED, cwd=tmp_path, merged=True)
    assert result.returncode == 1  # the first entry that failed did not compile
    assert result.stdout == snapshot
    assert _parley("check", str(tmp_path / "saved.agent")).returncode == 0


def test_a_piped_session_that_works_exits_0_and_one_that_fails_at_run_time_exits_3(tmp_path: Path) -> None:
    good = _parley("repl", stdin='x = 2\nprint "x is {x}"\n')
    assert (good.returncode, good.stdout, good.stderr) == (0, "x is 2\n", "")
    bad = _parley("repl", stdin="x = 0\ny = 1 / x\nprint 1\n")
    assert bad.returncode == 3
    assert bad.stdout == "1\n"  # the session went on after the failure
    assert "<repl:2>:1: cannot compute a value here" in bad.stderr


def test_a_piped_session_starts_from_a_file(tmp_path: Path) -> None:
    script = tmp_path / "idea.agent"
    script.write_text('input name: str = "Ada"\n\nprint "Hello, {name}!"\n')
    loaded = _parley("repl", str(script), "name=Grace", stdin="print name\n")
    assert (loaded.returncode, loaded.stdout) == (0, "Grace\n")
    ran = _parley("repl", str(script), "--run", stdin=":usage\n")
    assert ran.stdout.splitlines()[0] == "Hello, Ada!"
    assert ran.stdout.splitlines()[1].startswith("0 turns · 0 tokens · $0.00 · ")
    broken = _parley("repl", str(tmp_path / "missing.agent"))
    assert broken.returncode == 2


def test_parley_with_no_arguments_and_no_terminal_prints_help() -> None:
    result = _parley(stdin="print 1\n")
    assert result.returncode == 0
    assert "Usage:" in result.stdout and "repl" in result.stdout


# --- a real terminal ---------------------------------------------------------------------


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Any]:
    """`parley repl` on a pseudo-terminal (TERM=dumb: prompt_toolkit writes plain text), in tmp_path."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(RULES, tmp_path / "rules.json")
    env = {**os.environ, "TERM": "dumb", "HOME": str(home), "PARLEY_STORE": str(tmp_path / "store.db"),
           "XDG_STATE_HOME": str(home / "state"), "NO_COLOR": "1"}
    children: list[Any] = []

    def spawn(*args: str) -> Any:
        child = pexpect.spawn(sys.executable, ["-m", "parley", *args], cwd=str(tmp_path), env=env,
                              encoding="utf-8", timeout=30, dimensions=(40, 200))
        children.append(child)
        return child

    yield spawn
    for child in children:
        child.close(force=True)


def _type(child: Any, *lines: str) -> None:
    """Type lines as a person would, Enter after each (the prompt indents block lines itself)."""
    for line in lines:
        child.send(line + "\r")


def _interrupt(child: Any, expected: str) -> None:
    """Ctrl-C until `expected` shows (a Ctrl-C typed while the prompt still reads keys only clears a line)."""
    for _ in range(30):
        child.sendintr()
        if child.expect_exact([expected, pexpect.TIMEOUT], timeout=1) == 0:
            return
    raise AssertionError(f"{expected!r} never showed")


def test_a_terminal_session_from_first_idea_to_a_saved_script(terminal: Any, tmp_path: Path) -> None:
    child = terminal("repl", "--model", "scripted:rules.json")
    child.expect_exact(">>> ")
    _type(child, "agent writer:", '"""You are a concise writer."""', "")
    child.expect_exact(">>> ")
    _type(child, 'agent critic:', '"You review drafts."', "")
    child.expect_exact(">>> ")
    _type(child, "@writer Draft a blurb about Lark.")
    child.expect_exact("Lark turns grammars into parsers for text.")
    child.expect_exact(">>> ")
    _type(child, "@writer shorter")
    child.expect_exact("Parsers read text.")
    child.expect_exact(">>> ")
    # a mistake, then the fix
    _type(child, "draft = @writr Again.")
    child.expect_exact("error[P202]: unknown agent `writr`")
    child.expect_exact("did you mean `writer`")
    child.expect_exact(">>> ")
    _type(child, "draft = @writer Again.")
    child.expect_exact(">>> ")
    # a turn that takes too long, cancelled with Ctrl-C
    _type(child, "@writer slow please")
    child.expect_exact("slow please")
    _interrupt(child, "cancelled: the session is as it was before this entry")
    child.expect_exact(">>> ")
    _type(child, ":history writer")
    child.expect_exact("Again.")
    child.expect_exact("Lark turns grammars into parsers for text.")
    child.expect_exact(">>> ")
    assert "slow" not in child.before
    # a chat, typed as a block
    _type(child, "review = chat writer, critic:", '"Improve this: {draft}"',
          'until critic says "APPROVED" or 6 turns', "")
    child.expect_exact("Tighten the verb.")
    child.expect_exact("APPROVED")
    child.expect_exact(">>> ")
    _type(child, "review.turns")
    child.expect_exact("4")
    child.expect_exact(">>> ")
    _type(child, "print review.last")
    child.expect_exact(">>> ")
    _type(child, ":save idea.agent")
    child.expect_exact("saved")
    child.expect_exact(">>> ")
    child.send("\x04")  # Ctrl-D
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0

    saved = tmp_path / "idea.agent"
    assert "slow" not in saved.read_text() and "writr" not in saved.read_text()
    assert _parley("check", str(saved)).returncode == 0
    ran = _parley("run", str(saved), "--model", f"scripted:{RULES}", "--no-store")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "APPROVED"


def test_completion_history_and_ctrl_c_at_the_prompt(terminal: Any, tmp_path: Path) -> None:
    child = terminal("repl", "--model", "scripted:rules.json")
    child.expect_exact(">>> ")
    _type(child, "agent writer:", '"""You are a concise writer."""', "")
    child.expect_exact(">>> ")
    # Tab completes the agent's name (a dumb terminal echoes the last character of each change: "r")
    child.send("@wri\t")
    child.expect_exact("@wrir")
    child.send(" shorter\r")
    child.expect_exact("Parsers read text.")
    child.expect_exact(">>> ")
    child.send(":hist\t")  # and meta-commands
    child.expect_exact(":histy")
    child.send(" writer\r")
    child.expect_exact("you")
    child.expect_exact("shorter")
    child.expect_exact(">>> ")
    child.send('print "never run"')
    child.sendintr()  # clears the line
    child.expect_exact(">>> ")
    _type(child, 'print "remembered"')
    child.expect_exact("remembered")
    child.expect_exact(">>> ")
    child.send("\x04")  # Ctrl-D
    child.expect(pexpect.EOF)

    history = tmp_path / "home" / "state" / "parley" / "repl_history"
    assert 'print "remembered"' in history.read_text()
    again = terminal("repl")
    again.expect_exact(">>> ")
    again.send("\x1b[A\r")  # Up recalls the last entry of the last session
    again.expect_exact("remembered")
    again.expect_exact(">>> ")
    _type(again, ":quit")
    again.expect(pexpect.EOF)


def test_a_person_answers_at_their_own_prompt(terminal: Any) -> None:
    child = terminal("repl")
    child.expect_exact(">>> ")
    _type(child, "agent you is human")
    child.expect_exact(">>> ")
    _type(child, 'ready = @you? "Ready?"')
    child.expect_exact("you, your turn: Ready?")
    child.expect_exact("you> ")
    _type(child, "yes")
    child.expect_exact(">>> ")
    _type(child, "ready")
    child.expect_exact("true")
    child.expect_exact(">>> ")
    _type(child, ":quit")
    child.expect(pexpect.EOF)


def test_parley_with_no_arguments_at_a_terminal_starts_the_repl(terminal: Any) -> None:
    child = terminal()
    child.expect_exact("Parley REPL")
    child.expect_exact(">>> ")
    _type(child, 'print "hello"')
    child.expect_exact("hello")
    child.expect_exact(">>> ")
    child.send("\x04")  # Ctrl-D
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
