"""`python -m dsl` runs the `parley` command line."""

from dsl.cli import main

main()
