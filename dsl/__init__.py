"""The language's front end: source text and spans, the syntax tree, the parser, diagnostics, the formatter.

Modules are imported where they are used: `parley.dsl.source` (spans) and
`parley.dsl.errors` (the error roots) are the dependency-free leaf that the
runtime may import; the parser (`parley.dsl.parser`) loads Lark.
"""
