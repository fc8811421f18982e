"""The language server (`parley lsp`): pygls over stdin/stdout, each LSP request answered by one small module.

Every document is checked as `parley check` checks a file, on open, on each
change and on save, and its diagnostics are published (those in the files
it imports, on those files). A failure inside a handler is Parley's bug: it
is logged to the client and the server carries on.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from lsprotocol import types as t
from pygls.lsp.server import LanguageServer

from parley import __version__
from parley.lsp import actions, completion, hover, navigation
from parley.lsp.analysis import Analysis, Documents, path_uri
from parley.lsp.diagnostics import by_file
from parley.lsp.positions import Lines

F = TypeVar("F", bound=Callable[..., Any])


class ParleyServer(LanguageServer):
    """The server, with the open documents' analyses and which files' diagnostics each one published."""

    def __init__(self) -> None:
        super().__init__("parley", __version__, text_document_sync_kind=t.TextDocumentSyncKind.Incremental)
        self.documents = Documents()
        self.published: dict[str, set[str]] = {}

    def lines(self, text: str) -> Lines:
        return Lines(text, self.workspace.position_encoding)

    def analysis(self, uri: str) -> Analysis:
        """The document's analysis, checking it first if the client never opened it."""
        found = self.documents.open.get(uri)
        if found is None or found.source.text != self.workspace.get_text_document(uri).source:
            found = self.refresh(uri)
        return found

    def refresh(self, uri: str) -> Analysis:
        """Check the document's current text and publish its diagnostics."""
        analysis = self.documents.check(uri, self.workspace.get_text_document(uri).source)
        sources = analysis.result.sources if analysis.result is not None else {}

        def lines_of(name: str) -> Lines:
            if name == analysis.source.name:
                return self.lines(analysis.source.text)
            return self.lines(sources[name].text if name in sources else "")

        grouped = by_file(analysis.diagnostics, lines_of)
        targets = {uri: grouped.pop(analysis.source.name, [])}
        for name, found in grouped.items():
            targets[path_uri(name) if os.path.isabs(name) else name] = found
        for stale in self.published.get(uri, set()) - set(targets):
            self.text_document_publish_diagnostics(t.PublishDiagnosticsParams(uri=stale, diagnostics=[]))
        for target, found in targets.items():
            self.text_document_publish_diagnostics(t.PublishDiagnosticsParams(uri=target, diagnostics=found))
        self.published[uri] = set(targets)
        return analysis

    def log(self, message: str, kind: t.MessageType = t.MessageType.Log) -> None:
        self.window_log_message(t.LogMessageParams(type=kind, message=message))


def guarded(default: Any = None) -> Callable[[F], F]:
    """A handler that never takes the server down: an exception is logged to the client as Parley's bug."""

    def wrap(handler: F) -> F:
        @functools.wraps(handler)
        def run(ls: ParleyServer, *args: Any) -> Any:
            try:
                return handler(ls, *args)
            except Exception as error:  # noqa: BLE001 - the server must outlive its own bugs
                ls.log(f"internal error in parley lsp ({handler.__name__}), please report it: "
                       f"{type(error).__name__}: {error}\n{traceback.format_exc()}", t.MessageType.Error)
                return default

        return run  # type: ignore[return-value]

    return wrap


def build() -> ParleyServer:
    """A server with every feature registered."""
    server = ParleyServer()

    @server.feature(t.TEXT_DOCUMENT_DID_OPEN)
    @guarded()
    def did_open(ls: ParleyServer, params: t.DidOpenTextDocumentParams) -> None:
        ls.refresh(params.text_document.uri)

    @server.feature(t.TEXT_DOCUMENT_DID_CHANGE)
    @guarded()
    def did_change(ls: ParleyServer, params: t.DidChangeTextDocumentParams) -> None:
        ls.refresh(params.text_document.uri)

    @server.feature(t.TEXT_DOCUMENT_DID_SAVE)
    @guarded()
    def did_save(ls: ParleyServer, params: t.DidSaveTextDocumentParams) -> None:
        ls.refresh(params.text_document.uri)

    @server.feature(t.TEXT_DOCUMENT_DID_CLOSE)
    @guarded()
    def did_close(ls: ParleyServer, params: t.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        for target in ls.published.pop(uri, set()):
            ls.text_document_publish_diagnostics(t.PublishDiagnosticsParams(uri=target, diagnostics=[]))
        ls.documents.close(uri)

    @server.feature(t.TEXT_DOCUMENT_COMPLETION, t.CompletionOptions(trigger_characters=["@", ".", "{"]))
    @guarded()
    def complete(ls: ParleyServer, params: t.CompletionParams) -> t.CompletionList | None:
        analysis = ls.analysis(params.text_document.uri)
        lines = ls.lines(analysis.source.text)
        before = lines.line(params.position.line)[:lines.char(params.position)]
        items = completion.complete(ls.documents, analysis, params.position.line, before)
        return t.CompletionList(is_incomplete=False, items=items)

    @server.feature(t.TEXT_DOCUMENT_HOVER)
    @guarded()
    def on_hover(ls: ParleyServer, params: t.HoverParams) -> t.Hover | None:
        analysis = ls.analysis(params.text_document.uri)
        return hover.hover(ls.documents, analysis, ls.lines(analysis.source.text), params.position)

    @server.feature(t.TEXT_DOCUMENT_DEFINITION)
    @guarded()
    def definition(ls: ParleyServer, params: t.DefinitionParams) -> t.Location | None:
        analysis = ls.analysis(params.text_document.uri)
        return navigation.definition(ls.documents, analysis, ls.lines(analysis.source.text), params.position)

    @server.feature(t.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    @guarded(default=[])
    def symbols(ls: ParleyServer, params: t.DocumentSymbolParams) -> list[t.DocumentSymbol]:
        analysis = ls.analysis(params.text_document.uri)
        return navigation.symbols(analysis, ls.lines(analysis.source.text))

    @server.feature(t.TEXT_DOCUMENT_FORMATTING)
    @guarded()
    def formatting(ls: ParleyServer, params: t.DocumentFormattingParams) -> list[t.TextEdit] | None:
        analysis = ls.analysis(params.text_document.uri)
        return actions.formatting(analysis, ls.lines(analysis.source.text))

    @server.feature(t.TEXT_DOCUMENT_CODE_LENS)
    @guarded(default=[])
    def lenses(ls: ParleyServer, params: t.CodeLensParams) -> list[t.CodeLens]:
        return actions.code_lenses(ls.analysis(params.text_document.uri))

    @server.command(actions.PLAN_COMMAND)
    @guarded()
    def show_plan(ls: ParleyServer, *args: Any) -> str | None:
        if not args or not isinstance(args[0], str):
            return None
        text = actions.plan_text(ls.analysis(args[0]))
        ls.log(text, t.MessageType.Info)
        return text

    return server


def serve() -> None:
    """Serve on stdin/stdout until the client says exit.

    The protocol owns stdout: anything else that would write there (a print
    in a script's Python tool, imported while checking) is sent to stderr.
    """
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    build().start_io(sys.stdin.buffer, channel)
