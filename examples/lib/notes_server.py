"""An MCP server keeping notes in memory, for examples/mcp_notes.agent (run on stdio by the script)."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("notes")
notes: dict[str, str] = {}


@server.tool()
def add_note(title: str, text: str) -> str:
    """Keep a note under a title (a note with the same title is replaced)."""
    notes[title] = text
    return f"saved {title!r}"


@server.tool()
def read_note(title: str) -> str:
    """The text of the note with this title."""
    if title not in notes:
        raise ToolError(f"no note titled {title!r}; titles: {', '.join(sorted(notes)) or 'none'}")
    return notes[title]


@server.tool()
def list_notes() -> list[str]:
    """The titles of all notes."""
    return sorted(notes)


if __name__ == "__main__":
    server.run()
