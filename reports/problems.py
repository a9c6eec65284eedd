"""What went wrong or needs care: failed and skipped cells, noisy cells, XLA fallbacks.

>>> import pandas as pd
>>> print(problems_section(pd.DataFrame(columns=["status", "noisy", "xla_fallback"])))
### Failed and skipped cells
<BLANKLINE>
None.
<BLANKLINE>
### Noisy cells
<BLANKLINE>
None.
<BLANKLINE>
### XLA fallbacks
<BLANKLINE>
None.
"""

from __future__ import annotations

import pandas as pd

from bench.results.stats import NOISE_THRESHOLD, PRECISION_TARGET
from bench.results.text import first_line
from reports.frames import is_true
from reports.markdown import table
from reports.units import MISSING, format_percent, format_seconds, is_missing

MAX_REASON = 160  # characters of a reason shown in a table cell


def _reason(text: object) -> str:
    """The first line of a reason, cut with an ellipsis at :data:`MAX_REASON` characters."""
    if is_missing(text):
        return MISSING
    line = first_line(str(text), limit=MAX_REASON + 1)
    if not line:
        return MISSING
    return line if len(line) <= MAX_REASON else line[: MAX_REASON - 1] + "…"


def failed_section(cells: pd.DataFrame) -> str:
    """A row per failed or skipped cell with its reason (first line), failures first."""
    bad = cells[cells["status"].isin(("failed", "skipped"))]
    if bad.empty:
        return "None."
    bad = bad.sort_values(["status", "label"])
    rows = [[row["label"], row["status"], _reason(row["reason"])] for _, row in bad.iterrows()]
    return table(["cell", "status", "reason"], rows, left=3)


def noisy_section(cells: pd.DataFrame) -> str:
    """A row per noisy cell: its 95% interval wider than the precision target, with the
    spread within and between its rounds beside it."""
    noisy = cells[is_true(cells["noisy"])] if len(cells) else cells
    if noisy.empty:
        return "None."
    rows = [
        [
            row["label"],
            format_seconds(row["step_s_median"]),
            "±" + format_percent(row.get("step_s_ci_rel")),
            format_percent(row.get("spread_within")),
            format_percent(row.get("spread_between")),
            str(int(row["rounds"])) if not is_missing(row.get("rounds")) else MISSING,
        ]
        for _, row in noisy.sort_values("label").iterrows()
    ]
    note = (
        f"The 95% interval of the median is wider than ±{100 * PRECISION_TARGET:g}% (cells "
        f"with a single round: IQR/median above {100 * NOISE_THRESHOLD:g}%). *Within* is "
        "the median IQR/median inside a round, *between* the spread of the rounds' medians "
        "((max − min) / median); when *between* dominates, more rounds help, not longer ones."
    )
    headers = ["cell", "median", "95% CI", "within", "between", "rounds"]
    return note + "\n\n" + table(headers, rows)


def fallback_section(cells: pd.DataFrame) -> str:
    """A row per cell whose XLA run fell back (``xla_fallback`` non-empty)."""
    if cells.empty:
        return "None."
    fallback = cells[
        cells["xla_fallback"].map(lambda text: not is_missing(text) and bool(str(text).strip()))
    ]
    if fallback.empty:
        return "None."
    rows = [
        [row["label"], _reason(row["xla_fallback"])]
        for _, row in fallback.sort_values("label").iterrows()
    ]
    return table(["cell", "fallback"], rows, left=2)


def problems_section(cells: pd.DataFrame) -> str:
    """The three sub-sections, each a table or ``None.``"""
    return "\n\n".join(
        [
            "### Failed and skipped cells",
            failed_section(cells),
            "### Noisy cells",
            noisy_section(cells),
            "### XLA fallbacks",
            fallback_section(cells),
        ]
    )
