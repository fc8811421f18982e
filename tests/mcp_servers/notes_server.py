"""A small MCP server for the tests: notes kept in memory, and a log of every call it served.

Run as `python notes_server.py` (stdio) or `python notes_server.py --http PORT` (streamable HTTP on
127.0.0.1). When NOTES_LOG names a file, each tool call appends a line to it, so a test can count the
calls a run really made (a resumed run must not make them again).
"""

from __future__ import annotations

import os
import sys

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("notes")
notes: dict[str, str] = {}


def _log(line: str) -> None:
    path = os.environ.get("NOTES_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(line + "\n")


@server.tool()
def add_note(title: str, text: str) -> str:
    """Keep a note under a title."""
    _log(f"add_note {title}")
    notes[title] = text
    return f"saved {title!r} ({len(notes)} notes)"


@server.tool()
def read_note(title: str) -> str:
    """The text of the note with this title."""
    _log(f"read_note {title}")
    if title not in notes:
        raise ToolError(f"no note titled {title!r}; titles: {', '.join(sorted(notes)) or 'none'}")
    return notes[title]


@server.tool()
def list_notes() -> list[str]:
    """The titles of all notes."""
    _log("list_notes")
    return sorted(notes)


@server.tool()
def crash() -> str:
    """Stop the server at once (the tests use it to check a server that dies)."""
    _log("crash")
    os._exit(3)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
