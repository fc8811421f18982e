"""`parley lsp` driven over stdio by a real LSP client (pytest-lsp): one server for the whole module."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("pygls")
pytest_lsp = pytest.importorskip("pytest_lsp")

from click.testing import CliRunner
from lsprotocol import types as t
from parley.dsl.fmt import format_source
from pytest_lsp import ClientServerConfig, LanguageClient

from parley.cli import main

pytestmark = pytest.mark.asyncio(loop_scope="module")

LIB = '''\
agent helper:
    """You help with anything."""

def shout(text: str) -> str:
    """The text, louder."""
    return upper(text)
'''

SCRIPT = '''\
from "lib.agent" import helper, shout

model smart = openai("gpt-4o-mini", temperature=0.2)
default model smart

agent writer:
    """You are a concise technical writer."""
    temperature: 0.7

agent critic:
    """You review drafts."""

type Verdict:
    score: int
    notes: list[str]

input topic: str = "Lark"

draft = @writer Draft a blurb about {topic}.
v: Verdict = @critic Score this draft: {draft}
print shout(draft)
print v.score
'''

MISTAKE = SCRIPT.replace("@critic Score", "@critc Score")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lsp")
    (root / "lib.agent").write_text(LIB)
    (root / "main.agent").write_text(SCRIPT)
    (root / "wrong.agent").write_text(MISTAKE)
    return root


@pytest_lsp.fixture(scope="module", config=ClientServerConfig(server_command=[sys.executable, "-m", "parley", "lsp"]))
async def client(lsp_client: LanguageClient, folder: Path):
    await lsp_client.initialize_session(t.InitializeParams(
        capabilities=t.ClientCapabilities(), root_uri=folder.as_uri(),
    ))
    yield
    await lsp_client.shutdown_session()


async def _open(client: LanguageClient, path: Path, text: str | None = None) -> str:
    """Open a document and wait until the server has checked it (a request answered after the notification)."""
    uri = path.as_uri()
    client.text_document_did_open(t.DidOpenTextDocumentParams(text_document=t.TextDocumentItem(
        uri=uri, language_id="parley", version=1, text=text if text is not None else path.read_text())))
    await client.text_document_document_symbol_async(t.DocumentSymbolParams(
        text_document=t.TextDocumentIdentifier(uri=uri)))
    return uri


def _checked(path: Path) -> list[tuple[str, int, int]]:
    """`parley check --json`'s diagnostics of a file in that file: (code, line, column)."""
    result = CliRunner().invoke(main, ["check", "--json", str(path)])
    return [(d["code"], d["span"]["line"], d["span"]["column"]) for d in json.loads(result.output)["diagnostics"]
            if Path(d["span"]["file"]).name == path.name]


def _published(client: LanguageClient, uri: str) -> list[tuple[str, int, int]]:
    return [(str(d.code), d.range.start.line + 1, d.range.start.character + 1) for d in client.diagnostics[uri]]


def _position(text: str, needle: str, offset: int = 0) -> t.Position:
    before = text[: text.index(needle) + offset]
    return t.Position(line=before.count("\n"), character=len(before.rsplit("\n", 1)[-1]))


async def test_diagnostics_are_parley_checks_on_open_and_while_typing(client: LanguageClient, folder: Path):
    uri = await _open(client, folder / "wrong.agent")
    expected = _checked(folder / "wrong.agent")
    assert expected and expected[0][0] == "P202"
    assert _published(client, uri) == expected
    assert "did you mean `critic`" in client.diagnostics[uri][0].message

    # Typing: the unsaved buffer is what is checked; a syntax error, then the fix.
    broken = MISTAKE.replace("print v.score", "print v.score +")
    (folder / "broken.agent").write_text(broken)
    client.text_document_did_change(t.DidChangeTextDocumentParams(
        text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[t.TextDocumentContentChangeWholeDocument(text=broken)]))
    await client.text_document_hover_async(t.HoverParams(
        text_document=t.TextDocumentIdentifier(uri=uri), position=t.Position(line=0, character=0)))
    assert _published(client, uri) == _checked(folder / "broken.agent") != expected

    async def edit(version: int, start: t.Position, end: t.Position, text: str) -> None:
        client.text_document_did_change(t.DidChangeTextDocumentParams(
            text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[t.TextDocumentContentChangePartial(range=t.Range(start=start, end=end), text=text)]))
        await client.text_document_hover_async(t.HoverParams(
            text_document=t.TextDocumentIdentifier(uri=uri), position=t.Position(line=0, character=0)))

    plus = _position(broken, "print v.score +", len("print v.score"))
    await edit(3, plus, t.Position(line=plus.line, character=plus.character + 2), "")
    assert _published(client, uri) == expected
    await edit(4, _position(MISTAKE, "@critc", 1), _position(MISTAKE, "@critc", 6), "critic")
    assert _published(client, uri) == _checked(folder / "main.agent")
    assert not any(d.severity == t.DiagnosticSeverity.Error for d in client.diagnostics[uri])


async def test_completion_after_at_lists_the_agents_even_while_the_script_is_broken(client: LanguageClient,
                                                                                    folder: Path):
    text = SCRIPT + "x = @\nif :\n"  # the last line is a syntax error
    uri = await _open(client, folder / "typing.agent", text)
    assert any(d.severity == t.DiagnosticSeverity.Error for d in client.diagnostics[uri])
    result = await client.text_document_completion_async(t.CompletionParams(
        text_document=t.TextDocumentIdentifier(uri=uri), position=_position(text, "x = @", 5)))
    labels = {item.label for item in result.items}
    assert {"writer", "critic", "helper"} <= labels
    assert "smart" not in labels and "topic" not in labels

    member = await client.text_document_completion_async(t.CompletionParams(
        text_document=t.TextDocumentIdentifier(uri=uri), position=_position(text, "v.score", 2)))
    assert {item.label for item in member.items} == {"score", "notes"}

    symbols = await client.text_document_document_symbol_async(t.DocumentSymbolParams(
        text_document=t.TextDocumentIdentifier(uri=uri)))
    assert {"writer", "critic", "Verdict", "smart", "topic"} <= {s.name for s in symbols}


async def test_completion_of_settings_types_and_names(client: LanguageClient, folder: Path):
    uri = await _open(client, folder / "main.agent")

    async def labels(needle: str, offset: int) -> set[str]:
        result = await client.text_document_completion_async(t.CompletionParams(
            text_document=t.TextDocumentIdentifier(uri=uri), position=_position(SCRIPT, needle, offset)))
        return {item.label for item in result.items}

    assert {"temperature", "model", "tools"} <= await labels("    temperature", 4)
    assert {"int", "str", "Verdict"} <= await labels("v: Verdict", 3)
    anywhere = await labels("print shout", 0)
    assert {"draft", "topic", "shout", "print", "if", "len"} <= anywhere


async def test_hover_definition_symbols(client: LanguageClient, folder: Path):
    uri = await _open(client, folder / "main.agent")

    async def hover(needle: str, offset: int = 1) -> str:
        result = await client.text_document_hover_async(t.HoverParams(
            text_document=t.TextDocumentIdentifier(uri=uri), position=_position(SCRIPT, needle, offset)))
        assert result is not None, needle
        return result.contents.value

    writer = await hover("@writer")
    assert "concise technical writer" in writer and "smart" in writer and 'openai("gpt-4o-mini"' in writer
    assert "v: Verdict" in await hover("v.score", 0)
    assert "draft: str" in await hover("shout(draft", 7)
    assert "The text, louder." in await hover("shout(draft")

    async def definition(needle: str, offset: int = 1) -> t.Location:
        found = await client.text_document_definition_async(t.DefinitionParams(
            text_document=t.TextDocumentIdentifier(uri=uri), position=_position(SCRIPT, needle, offset)))
        assert isinstance(found, t.Location), needle
        return found

    here = await definition("@writer", 2)
    assert (here.uri, here.range.start.line, here.range.start.character) == (uri, 5, 6)
    there = await definition("shout(draft")
    assert there.uri == (folder / "lib.agent").as_uri() and there.range.start.line == 3
    assert (await definition('"lib.agent"', 2)).uri == (folder / "lib.agent").as_uri()
    assert (await definition("v: Verdict", 4)).range.start.line == 12

    symbols = await client.text_document_document_symbol_async(t.DocumentSymbolParams(
        text_document=t.TextDocumentIdentifier(uri=uri)))
    by_name = {s.name: s for s in symbols}
    assert by_name["writer"].kind == t.SymbolKind.Class
    assert [c.name for c in by_name["Verdict"].children] == ["score", "notes"]
    assert {"draft", "v", "helper", "shout"} <= set(by_name)


async def test_hover_on_a_diagnostic_explains_its_code(client: LanguageClient, folder: Path):
    uri = await _open(client, folder / "wrong.agent", MISTAKE)
    result = await client.text_document_hover_async(t.HoverParams(
        text_document=t.TextDocumentIdentifier(uri=uri), position=_position(MISTAKE, "@critc", 2)))
    assert "error[P202]" in result.contents.value and "did you mean `critic`" in result.contents.value


async def test_formatting_and_the_plan(client: LanguageClient, folder: Path):
    messy = SCRIPT.replace("temperature: 0.7", "temperature:0.7").replace("print v.score", "print   v.score")
    uri = await _open(client, folder / "messy.agent", messy)
    edits = await client.text_document_formatting_async(t.DocumentFormattingParams(
        text_document=t.TextDocumentIdentifier(uri=uri), options=t.FormattingOptions(tab_size=4, insert_spaces=True)))
    assert len(edits) == 1 and edits[0].new_text == format_source(messy) != messy

    lenses = await client.text_document_code_lens_async(t.CodeLensParams(
        text_document=t.TextDocumentIdentifier(uri=uri)))
    assert lenses and lenses[0].command.command == "parley.plan"
    tree = await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command="parley.plan", arguments=lenses[0].command.arguments))
    assert "writer" in tree and "critic" in tree


@pytest.mark.parametrize("text", ['x = "\x00"\n', "x = " + "(" * 5000 + "\n", 'agent a:\n    """never closed\n', "",
                                  "agent 🙂:\n\tmodel: \n@"])
async def test_hostile_documents_get_answers_not_a_dead_server(client: LanguageClient, folder: Path, text: str):
    uri = await _open(client, folder / "hostile.agent", text)
    document = t.TextDocumentIdentifier(uri=uri)
    end = t.Position(line=text.count("\n"), character=0)
    await client.text_document_completion_async(t.CompletionParams(text_document=document, position=end))
    await client.text_document_hover_async(t.HoverParams(text_document=document, position=end))
    await client.text_document_formatting_async(t.DocumentFormattingParams(
        text_document=document, options=t.FormattingOptions(tab_size=4, insert_spaces=True)))
    await client.text_document_code_lens_async(t.CodeLensParams(text_document=document))
    assert not [m for m in client.log_messages if m.type == t.MessageType.Error]
    client.text_document_did_close(t.DidCloseTextDocumentParams(text_document=document))
