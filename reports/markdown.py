"""Markdown pieces: GitHub tables from already formatted strings, escaping.

Cells are formatted before they reach :func:`table` (see :mod:`reports.units`), so number
parsing is off and the text is kept exactly. Columns listed in ``left`` are left-aligned
(labels, knobs); the others are right-aligned so that numbers line up in the source text.

>>> print(table(["units", "params"], [["16", "1,040"], ["32", "2,080"]], left=1))
| units   |   params |
|---------|----------|
| 16      |    1,040 |
| 32      |    2,080 |
"""

from __future__ import annotations

from collections.abc import Sequence

from tabulate import tabulate

from reports.units import MISSING


def escape(text: str) -> str:
    """Make text safe inside a table cell: pipes escaped, newlines flattened.

    >>> escape("a|b\\nc")
    'a\\\\|b c'
    """
    return " ".join(str(text).replace("|", "\\|").split())


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, left: int = 1) -> str:
    """A GitHub-flavoured markdown table; the first ``left`` columns are left-aligned."""
    align = ["left" if i < left else "right" for i in range(len(headers))]
    return tabulate(
        [[escape(cell) for cell in row] for row in rows],
        headers=[escape(h) for h in headers],
        tablefmt="github",
        disable_numparse=True,
        colalign=align,
    )


def drop_empty_columns(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, keep: int = 0
) -> tuple[list[str], list[list[str]]]:
    """Drop columns (after the first ``keep``) whose every cell is missing.

    >>> drop_empty_columns(["k", "a", "b"], [["1", "—", "x"]], keep=1)
    (['k', 'b'], [['1', 'x']])
    """
    wanted = [
        i
        for i in range(len(headers))
        if i < keep or any(row[i] not in (MISSING, "") for row in rows)
    ]
    return [headers[i] for i in wanted], [[row[i] for i in wanted] for row in rows]
