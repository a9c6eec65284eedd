"""Small text helpers shared by the engine and the reports (pure Python).

>>> first_line(ValueError("bad knob\\nmore detail"))
'bad knob'
"""

from __future__ import annotations


def first_line(error: BaseException | str, *, limit: int = 500) -> str:
    """The first non-empty line of an error (or text), cut at ``limit`` characters."""
    text = str(error).strip().splitlines()
    if text:
        return text[0][:limit]
    return type(error).__name__ if isinstance(error, BaseException) else ""
