"""Helpers for the golden compile-error scripts (imported as a Python module)."""


def count_words(text: str) -> str:
    """Count the words of a message."""
    return str(len(text.split()))


def clip(text: str, limit: int, marker: str = "…") -> str:
    """Shorten text to `limit` characters."""
    return text if len(text) <= limit else text[:limit] + marker
