"""API keys never reach the store, traces, transcripts or error messages (a canary key, grepped everywhere)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from parley.cli import main
from fake_openai import (  # noqa: F401  (fake_openai_fixture registers the `fake_openai` fixture)
    error,
    fake_openai_fixture,
    rate_limited,
)

CANARY = "sk-canary-5f1e9c"


def test_the_canary_key_appears_in_no_artifact(fake_openai, tmp_path: Path,  # type: ignore[no-untyped-def]
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    monkeypatch.setenv("CANARY_TOKEN", CANARY)
    store = tmp_path / "store.db"
    outputs = []
    scenarios = [
        ("ok", ["Hello."], 0),
        ("auth", [error(401, f"Incorrect API key provided: {CANARY}", type="invalid_api_key")], 3),
        ("rate", [rate_limited(), rate_limited(), rate_limited()], 3),
        ("bad", [error(400, f"bad request from key {CANARY}")], 3),
    ]
    for name, replies, exit_code in scenarios:
        fake_openai.script(*replies)
        script = tmp_path / f"{name}.agent"
        script.write_text(
            f'model m = openai("gpt-4o-mini", base_url="{fake_openai.base_url}", max_retries=2, temperature=0)\n'
            f'agent w:\n    """You write."""\n    model: m\nx = @w Say hello ({name}).\nprint x\n'
        )
        trace = tmp_path / f"{name}.jsonl"
        result = CliRunner().invoke(main, ["run", str(script), "--store", str(store), "--trace", str(trace)])
        outputs.append(result.output)
        assert trace.exists() and result.exit_code == exit_code, (name, result.output)
    assert all(request_headers_had_the_key(fake_openai))  # the key did reach the server, and only there
    artifacts = [*outputs, *(p.read_bytes().decode("utf-8", "replace") for p in tmp_path.glob("*.jsonl"))]
    for path in tmp_path.glob("store.db*"):
        artifacts.append(path.read_bytes().decode("latin-1"))
    leaks = [text[:200] for text in artifacts if CANARY in text]
    assert not leaks


def request_headers_had_the_key(fake_openai) -> list[bool]:  # type: ignore[no-untyped-def]
    return [f"Bearer {CANARY}" in str(r.headers) for r in fake_openai.received]
