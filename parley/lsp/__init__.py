"""`parley lsp`: a language server for `.agent` scripts (diagnostics as you type, completion, hover,
go to definition, symbols, formatting, the plan as a code lens). Needs the `lsp` extra (pygls)."""

from __future__ import annotations

from parley.dsl.errors import UsageError

__all__ = ["serve"]


def serve() -> None:
    """Serve the Language Server Protocol on stdin and stdout."""
    try:
        from parley.lsp.server import serve as run
    except ImportError as error:
        if error.name not in ("pygls", "lsprotocol") and not str(error.name or "").startswith(("pygls.", "lsprotocol.")):
            raise
        raise UsageError("`parley lsp` needs the language server library: "
                         "pip install 'parley-lang[lsp]'") from None
    run()
