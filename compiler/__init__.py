"""The compiler: name resolution, checks, and the conversation plan (built on the syntax tree)."""
