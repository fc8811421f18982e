"""Highlighting: the Pygments lexer (entry point `parley`), the TextMate grammar of the VS Code extension
(tokenized by vscode-textmate, as VS Code does), and the extension packaged as a .vsix by `vsce`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from helpers import EXAMPLES, ROOT
from parley.dsl.keywords import RESERVED
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import Comment, Error, Name, Number, String

from parley.highlight import ParleyLexer, fragments

EXTENSION = ROOT / "editors" / "vscode"
GRAMMAR = EXTENSION / "syntaxes" / "parley.tmLanguage.json"
SCRIPTS = sorted(EXAMPLES.glob("**/*.agent"))


def test_the_lexer_is_registered_with_pygments():
    assert isinstance(get_lexer_by_name("parley"), ParleyLexer)
    assert isinstance(get_lexer_for_filename("review.agent"), ParleyLexer)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_no_example_has_an_error_token(script: Path):
    text = script.read_text()
    tokens = list(ParleyLexer().get_tokens(text))
    assert [value for token, value in tokens if token in Error] == []
    assert "".join(value for _, value in tokens) == text if text.endswith("\n") else text + "\n"


def test_the_tokens_of_an_example():
    tokens = [(token, value) for token, value in ParleyLexer().get_tokens((EXAMPLES / "review.agent").read_text())
              if value.strip()]
    assert (Name.Decorator, "@writer") in tokens
    at = tokens.index((Name.Decorator, "@writer"))
    assert tokens[at + 1] == (String.Other, "Draft") and (String.Interpol, "{") in tokens[at:at + 6]
    assert (Number.Float, "$0.50") in tokens and (Number.Integer, "20000") in tokens
    assert any(token in String.Doc and "concise technical writer" in value for token, value in tokens)
    assert any(token in Comment and "review.agent" in value for token, value in tokens)
    software = [(t, v) for t, v in ParleyLexer().get_tokens((EXAMPLES / "software_team.agent").read_text())]
    assert (Number.Integer, "15m") in software and (Number.Integer, "30s") in software


def test_the_repl_highlights_with_the_lexer():
    assert fragments('x = @w Say {a}  # c') == [
        ("", "x = "), ("agent", "@w"), ("", " Say "), ("string", "{"), ("", "a"), ("string", "}"), ("", "  "),
        ("comment", "# c")]


def _patterns(node: object):
    """Every rule of the grammar (a dict holding `match` or `begin`)."""
    if isinstance(node, dict):
        if "match" in node or "begin" in node:
            yield node
        for value in node.values():
            yield from _patterns(value)
    elif isinstance(node, list):
        for value in node:
            yield from _patterns(value)


def test_the_grammar_compiles_and_knows_every_keyword():
    grammar = json.loads(GRAMMAR.read_text())
    assert grammar["scopeName"] == "source.parley"
    rules = list(_patterns(grammar))
    for rule in rules:
        for key in ("match", "begin", "end"):
            if key in rule and not re.search(r"\\\d", rule[key]):  # `end` may refer back to `begin`'s group
                re.compile(rule[key])
    highlighted = set()
    for rule in rules:
        for words in re.findall(r"\\b\(\?:([\w|]+)\)\\b", rule.get("match", "")):
            highlighted.update(words.split("|"))
    assert RESERVED <= highlighted
    manifest = json.loads((EXTENSION / "package.json").read_text())
    assert manifest["contributes"]["grammars"][0]["path"] == "./syntaxes/parley.tmLanguage.json"
    assert manifest["contributes"]["languages"][0]["extensions"] == [".agent"]


@pytest.fixture(scope="module")
def extension(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of editors/vscode with its npm packages installed from the lock file."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.skip("npm is not installed: the VS Code extension is not packaged or tokenized")
    copy = tmp_path_factory.mktemp("vscode") / "vscode"
    shutil.copytree(EXTENSION, copy, ignore=shutil.ignore_patterns("node_modules", "*.vsix"))
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefer-offline"], cwd=copy, check=True,
                   capture_output=True, timeout=600)
    return copy


def test_the_vsix_holds_the_grammar_and_the_client(extension: Path):
    subprocess.run(["npx", "--no-install", "vsce", "package", "--out", "parley.vsix"], cwd=extension, check=True,
                   capture_output=True, timeout=300)
    with zipfile.ZipFile(extension / "parley.vsix") as vsix:
        names = set(vsix.namelist())
        manifest = json.loads(vsix.read("extension/package.json"))
        grammar = json.loads(vsix.read("extension/syntaxes/parley.tmLanguage.json"))
    assert {"extension/extension.js", "extension/language-configuration.json",
            "extension/node_modules/vscode-languageclient/package.json"} <= names
    assert not any(name.startswith(("extension/node_modules/@vscode/", "extension/scripts/")) for name in names)
    assert manifest["main"] == "./extension.js" and grammar == json.loads(GRAMMAR.read_text())


def test_vscode_tokenizes_the_examples(extension: Path):
    done = subprocess.run(["node", "scripts/tokenize.js", *map(str, SCRIPTS)], cwd=extension, check=True,
                          capture_output=True, text=True, timeout=120)
    files = {Path(entry["file"]).name: entry["lines"] for entry in map(json.loads, done.stdout.splitlines())}
    assert set(files) == {p.name for p in SCRIPTS}

    def scope(name: str, line_start: str, text: str) -> str:
        line = next(line for line in files[name] if "".join(t for t, _ in line).startswith(line_start))
        return next(scopes[-1] for token, scopes in line if token == text)

    assert scope("review.agent", "draft = @writer", "@writer") == "entity.name.function.agent.parley"
    assert scope("review.agent", "draft = @writer", "Draft a ") == "string.unquoted.prose.parley"
    assert scope("review.agent", "draft = @writer", "words") == "variable.other.parley"
    assert scope("review.agent", "budget $0.50", "$0.50") == "constant.numeric.money.parley"
    assert scope("review.agent", "# review.agent", "# review.agent — a writer drafts a blurb, a critic reviews it "
                 "until it needs") == "comment.line.number-sign.parley"
    assert scope("review.agent", "agent writer", "writer") == "entity.name.type.agent.parley"
    assert scope("software_team.agent", "budget 15m", "15m") == "constant.numeric.duration.parley"
    docstring = next(line for line in files["review.agent"] if any("concise technical" in t for t, _ in line))
    assert any(s[-1] == "string.quoted.docstring.multi.parley" for t, s in docstring if "concise" in t)
