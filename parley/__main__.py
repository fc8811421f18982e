"""`python -m parley` runs the `parley` command line."""

from parley.cli import main

if __name__ == "__main__":
    main()
