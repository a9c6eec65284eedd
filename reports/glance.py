"""The report's first table per family: what each capacity costs and buys, at a glance.

One row per capacity measured at the family's batch size: params, forward FLOPs per
example, the main pass's step time (XLA off), throughput, peak memory, and the test
error of the fit cells with the same knobs (clean labels, mean over seeds), final and
early-stopped. Every number but the test errors also shows its ratio to the smallest
capacity, so "4× the params for 1.3× the step time" reads off one row.

>>> glance_section([])
'No family has timing results, so there is nothing to tabulate.'
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from bench.spec.backends import compile_mode
from reports.families import Family
from reports.frames import format_knob, is_default_condition, knob_values
from reports.markdown import table
from reports.units import (
    MISSING,
    format_bytes,
    format_count,
    format_flops,
    format_number,
    format_seconds,
)


def glance_section(families: list[Family]) -> str:
    """A table per family; the note says what the columns are."""
    tables = [text for family in families if (text := glance_table(family))]
    if not tables:
        return "No family has timing results, so there is nothing to tabulate."
    note = (
        "Per capacity at the family's batch size: step time of the main pass (train, else "
        "forward) without XLA (where only XLA ran, as for jax's jax.jit, with it), samples "
        "per second, the allocator peak of that step, and the "
        "test error of the fit cells with the same knobs on clean labels (mean over seeds; "
        "*final*: last epoch trained, *early-stopped*: at the best-validation epoch). "
        "(×n) is the ratio to the smallest capacity. Intervals and spreads are in the "
        "family sections below."
    )
    return "\n\n".join([note, *tables])


def glance_table(family: Family) -> str:
    """One family's table ('' when it has no timing capacity)."""
    pass_ = family.main_pass
    capacities = family.timing_capacities
    if pass_ is None or not capacities:
        return ""
    xla = family.default_xla
    columns = {
        "params": (lambda c: family.params(c), format_count),
        "FLOPs/example": (lambda c: family.flops(c), format_flops),
        f"{pass_} step": (lambda c: family.value(c, pass_, xla, "step_s_median"), format_seconds),
        "samples/s": (lambda c: family.value(c, pass_, xla, "samples_per_s"), _rate),
        "peak memory": (lambda c: family.value(c, pass_, xla, "peak_bytes"), format_bytes),
    }
    base = {name: _number(get(capacities[0])) for name, (get, _) in columns.items()}
    rows = []
    for capacity in capacities:
        knobs = knob_values(capacity)
        row = [" ".join(f"{k}={format_knob(v)}" for k, v in knobs.items() if k != "input")]
        for name, (get, fmt) in columns.items():
            value = _number(get(capacity))
            row.append(_with_ratio(value, base[name], fmt))
        final, early = _test_errors(family.fits, knobs)
        row += [final, early]
        rows.append(row)
    headers = ["capacity", *columns, "test error (final)", "test error (early-stopped)"]
    title = f"**{family.name}**" + (f" ({compile_mode(family.backend, True)})" if xla else "")
    return f"{title}\n\n" + table(headers, rows)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _with_ratio(value: float | None, base: float | None, fmt) -> str:
    if value is None:
        return MISSING
    if not base or value == base:
        return fmt(value)
    return f"{fmt(value)} (×{format_number(value / base)})"


def _rate(value: float | None) -> str:
    return MISSING if value is None else format_count(round(value))


def _test_errors(fits: pd.DataFrame, knobs: dict[str, Any]) -> tuple[str, str]:
    """Mean final and early-stopped test error of the clean-label fits with these knobs."""
    if fits.empty or "final_test_error" not in fits:
        return MISSING, MISSING
    wanted = {k: v for k, v in knobs.items() if k != "input"}
    clean = fits[is_default_condition(fits) & (fits["status"] == "ok")]
    same = clean[
        clean["capacity"].map(
            lambda c: {k: v for k, v in knob_values(c).items() if k != "input"} == wanted
        )
    ]
    out = []
    for column in ("final_test_error", "best_test_error"):
        values = pd.to_numeric(same[column], errors="coerce").dropna()
        out.append(f"{values.mean():.3f}" if len(values) else MISSING)
    return out[0], out[1]
