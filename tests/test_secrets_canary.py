"""Canary secrets reach the server and nothing else: no file, no console line, no error, in no escaped form.

Three canaries: `OPENAI_API_KEY` (a key by its name), `LLM_AUTH` (named by a
model's `api_key_env`, so a secret whatever its name; it holds a quote, a
backslash and a slash, which JSON escapes) and `CANARY_SECRET` (non-ASCII,
which JSON writes as `\\uXXXX`). A fake server echoes them in streamed replies
(split across pieces), in tool-call arguments (a tool echoes them, another
raises with them), and in error messages (401 with the key it was sent, 400).
Every artifact is then searched for each canary as written and in its escaped
forms: the run store's files (bytes), `--trace` files, the console (stdout and
stderr of `run`), `show` (text and JSON), `trace` (JSONL and OTLP), `runs`,
and the errors the API raises.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from fake_openai import (  # noqa: F401  (fake_openai_fixture registers the `fake_openai` fixture)
    error,
    fake_openai_fixture,
    reply,
    tool_call,
    unauthorized,
)
from parley.dsl.errors import RunError
from parley.runtime.store import Store

import parley
from parley.cli import main

OPENAI_KEY = "sk-canary-5f1e9c0b7a2d4e6f8a1b3c5d"
LLM_AUTH = 'llm-auth"canary\\7c3d/e9f1'
NON_ASCII = "canary-sécret-✓-9e2a"
CANARIES = {"OPENAI_API_KEY": OPENAI_KEY, "LLM_AUTH": LLM_AUTH, "CANARY_SECRET": NON_ASCII}
ALL = f"{OPENAI_KEY} {LLM_AUTH} {NON_ASCII}"

TOOLS = '''
def echo(text: str) -> str:
    """Repeat the text."""
    return "echoed: " + text


def refuse(text: str) -> str:
    """Refuse the text."""
    raise ValueError("refused: " + text)
'''


def forms(secret: str) -> set[str]:
    """The ways a secret can be written down: as it is, JSON (ASCII or not), JSON in JSON, Python's repr."""
    found = {secret, repr(secret)[1:-1]}
    for ascii_only in (True, False):
        once = json.dumps(secret, ensure_ascii=ascii_only)[1:-1]
        found |= {once, json.dumps(once, ensure_ascii=ascii_only)[1:-1]}
    return found


def visible(text: str) -> list[str]:
    """The canaries `text` shows, in any form."""
    return [name for name, secret in CANARIES.items() if any(form in text for form in forms(secret))]


def halves(secret: str) -> list[str]:
    return [secret[: len(secret) // 2], secret[len(secret) // 2:]]


def script(name: str, base_url: str, api_key_env: bool = True) -> str:
    key = ', api_key_env="LLM_AUTH"' if api_key_env else ""
    return (
        'from python "canary_tools" import echo, refuse\n'
        f'model m = openai("canary-model", base_url="{base_url}"{key}, temperature=0, max_retries=0)\n'
        'agent w:\n    """You repeat."""\n    model: m\n    tools: echo, refuse\n    max_tool_rounds: 3\n'
        f"x = @w Say it ({name}).\nprint x\noutput {{\"said\": x}}\n"
    )


def test_no_artifact_shows_a_secret(fake_openai, tmp_path: Path,  # type: ignore[no-untyped-def]
                                    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name, value in CANARIES.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "canary_tools.py").write_text(TOOLS)
    store = tmp_path / "store.db"
    arguments = json.dumps({"text": ALL})
    streamed = ["said ", *halves(OPENAI_KEY), " and ", *halves(LLM_AUTH), " and ", *halves(NON_ASCII), " (",
                json.dumps(ALL), ") ", repr(ALL)]
    scenarios = {
        "ok": ([reply(tool_calls=[tool_call("c1", "echo", [arguments[:20], arguments[20:]]),
                                  tool_call("c2", "refuse", arguments)]),
                reply(streamed)], 0, True),
        "auth": ([unauthorized()], 3, False),  # the server echoes the key it got: OPENAI_API_KEY
        "auth-env": ([unauthorized()], 3, True),  # … LLM_AUTH
        "bad": ([error(400, f"bad request: {ALL}")], 3, True),
    }
    artifacts: dict[str, str] = {}
    for name, (replies, exit_code, api_key_env) in scenarios.items():
        fake_openai.script(*replies)
        path = tmp_path / f"{name}.agent"
        path.write_text(script(name, fake_openai.base_url, api_key_env))
        trace = tmp_path / f"{name}.jsonl"
        result = CliRunner().invoke(main, ["run", str(path), "--store", str(store), "--trace", str(trace)])
        assert result.exit_code == exit_code, (name, result.output)
        artifacts[f"run {name}: stdout"] = result.stdout
        artifacts[f"run {name}: stderr"] = result.stderr
        artifacts[f"{name}.jsonl"] = trace.read_text(encoding="utf-8")
    assert "said [redacted] and [redacted] and [redacted]" in artifacts["run ok: stderr"]  # streamed, masked
    assert "bad request: [redacted] [redacted] [redacted]" in artifacts["run bad: stderr"]

    # The canaries did travel, where they must: keys in the headers, replies and tool results in the bodies.
    sent = [(r.headers.get("authorization", ""), json.dumps(r.json)) for r in fake_openai.received]
    assert f"Bearer {OPENAI_KEY}" in [header for header, _ in sent]
    assert f"Bearer {LLM_AUTH}" in [header for header, _ in sent]
    assert visible(sent[1][1]) == list(CANARIES)  # the tool's echo went back to the model: the checker sees it
    assert any(r.json.get("stream") for r in fake_openai.received)

    runs = [row["id"] for row in Store(store).runs()]
    assert len(runs) == len(scenarios)
    for command in (["runs"], *(c + [run] for run in runs for c in (
            ["show"], ["show", "--json"], ["trace"], ["trace", "--format", "otlp-json"]))):
        result = CliRunner().invoke(main, [*command, "--store", str(store)])
        assert result.exit_code == 0, (command, result.output)
        artifacts[" ".join(command)] = result.output
    assert "refused: [redacted] [redacted] [redacted]" in artifacts[f"show --json {runs[-1]}"]

    for part in tmp_path.glob("store.db*"):
        artifacts[part.name] = part.read_bytes().decode("utf-8", "surrogateescape")

    # The API's errors: a run failure's message, and its partial result's transcript.
    fake_openai.script(error(400, f"bad request: {ALL}"))
    with pytest.raises(RunError) as failed:
        parley.load(tmp_path / "bad.agent").run(store=Store(store))
    artifacts["RunError"] = str(failed.value)
    artifacts["captured"] = capsys.readouterr().err

    leaks = {name: visible(text) for name, text in artifacts.items() if visible(text)}
    print(f"secrets visible to any artifact: {sum(map(len, leaks.values()))} (of {len(CANARIES)} canaries "
          f"in {len(artifacts)} artifacts)")
    assert not leaks


@pytest.mark.parametrize("pieces", [1, 2, 3, 7])
def test_a_secret_split_across_streamed_pieces_is_masked(pieces: int, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from parley.console import Console

    monkeypatch.setenv("LLM_AUTH", LLM_AUTH)
    from parley.runtime.secrets import name_secrets

    name_secrets(["LLM_AUTH"])
    text = f"a {LLM_AUTH} b {json.dumps(LLM_AUTH)} c sk-can"  # ends with what could begin a key: held, then shown
    console = Console(color=False, waiting=False)
    for start in range(0, len(text), pieces):
        console.token("w", text[start:start + pieces])
    console.end_stream()
    shown = capsys.readouterr().err
    assert shown == 'w\n  a [redacted] b "[redacted]" c sk-can\n' and not visible(shown)


def test_what_is_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    from parley.runtime.secrets import is_secret_name, name_secrets, secret_values

    assert all(map(is_secret_name, ["OPENAI_API_KEY", "GITHUB_TOKEN", "AWS_SECRET", "DB_PASSWORD", "OPENAI_ORG_ID"]))
    assert not any(map(is_secret_name, ["OPENAI_BASE_URL", "OPENAI_API_VERSION", "HOME", "PATH", "MY_AUTH"]))
    name_secrets(["MY_AUTH"])  # a model's `api_key_env`
    assert is_secret_name("MY_AUTH")
    monkeypatch.setenv("MY_AUTH", "auth-value-1234")
    monkeypatch.setenv("SHORT_KEY", "abc123")  # too short to mask without masking ordinary words
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8080/v1")
    assert "auth-value-1234" in secret_values()
    assert "abc123" not in secret_values() and "http://127.0.0.1:8080/v1" not in secret_values()


@pytest.mark.parametrize("written", [
    'sk-"q\\u00e9\\/x-9f8e7d6c',  # \uXXXX, an escaped slash, a quote as it is
    'sk-\\"q\\u00E9/x-9f8e7d6c',  # upper-case hex
    'sk-\\\\\\"q\\\\u00e9/x-9f8e7d6c',  # JSON in JSON
    "sk-\"qé/x-9f8e7d6c",
])
def test_a_secret_is_found_in_its_escaped_forms(written: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from parley.runtime.secrets import redact

    monkeypatch.setenv("ODD_KEY", 'sk-"qé/x-9f8e7d6c')
    assert redact(f"<{written}>") == "<[redacted]>"


def test_a_secret_beyond_the_basic_plane_is_found_as_a_surrogate_pair(monkeypatch: pytest.MonkeyPatch) -> None:
    from parley.runtime.secrets import redact

    secret = "key-\U0001F600-0a1b2c3d"
    monkeypatch.setenv("EMOJI_TOKEN", secret)
    for written in (json.dumps(secret), repr(secret), json.dumps(json.dumps(secret))):
        assert "[redacted]" in redact(written) and "0a1b2c3d" not in redact(written)
