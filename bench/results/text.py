"""Small text helpers shared by the engine and the reports (pure Python).

>>> first_line(ValueError("bad knob\\nmore detail"))
'bad knob'
>>> format_duration(192.4)
'3m12s'
"""

from __future__ import annotations


def first_line(error: BaseException | str, *, limit: int = 500) -> str:
    """The first non-empty line of an error (or text), cut at ``limit`` characters."""
    text = str(error).strip().splitlines()
    if text:
        return text[0][:limit]
    return type(error).__name__ if isinstance(error, BaseException) else ""


def format_duration(seconds: float) -> str:
    """A wall-clock span (a run, an ETA) as a clock reading, to the second.

    Not ``reports.units.format_seconds``, which gives a measured step time three
    significant figures in SI units ("1.31 ms"): a person reads "3m12s" for how long
    they wait, and "1.31 ms" for what a step costs.

    >>> format_duration(5), format_duration(125), format_duration(7300)
    ('5s', '2m05s', '2h01m')
    """
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
