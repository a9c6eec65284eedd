"""Scaling laws of a run: step time and peak memory against params and FLOPs.

For each family, timing pass and XLA setting, the capacities measured at the family's
batch size give points; where there are at least three (with two distinct x), a power
law ``y ≈ a·x^b`` is fitted (:func:`reports.scaling.fit_power_law`). FLOPs are per step
(forward FLOPs × batch, × 3 for a train step).

>>> QUANTITIES
(('step time', 'step_s_median'), ('peak memory', 'peak_bytes'))
"""

from __future__ import annotations

from dataclasses import dataclass

from reports.families import Family
from reports.markdown import table
from reports.scaling import PowerLaw, fit_power_law
from reports.units import MISSING, format_number

QUANTITIES = (("step time", "step_s_median"), ("peak memory", "peak_bytes"))
AGAINST = (("params", "params"), ("FLOPs", "flops_per_step"))
MIN_POINTS = 3


@dataclass(frozen=True)
class ScalingFit:
    """One fitted law: ``quantity ≈ a·against^b`` for a family, pass and XLA setting."""

    family: str
    pass_: str
    xla: bool
    quantity: str
    against: str
    law: PowerLaw


def points(
    family: Family, pass_: str, xla: bool, column: str, against: str = "params"
) -> tuple[list[float], list[float]]:
    """The ``(x, y)`` points of one family, pass and XLA setting (positive values only)."""
    xs, ys = [], []
    for capacity in family.capacities:
        x = family.value(capacity, pass_, xla, against)
        y = family.value(capacity, pass_, xla, column)
        if x is not None and y is not None and x > 0 and y > 0:
            xs.append(float(x))
            ys.append(float(y))
    return xs, ys


def scaling_fits(family: Family) -> list[ScalingFit]:
    """Every law with enough points in one family."""
    fits = []
    for pass_ in family.timing_passes:
        for xla in (False, True):
            for quantity, column in QUANTITIES:
                for against, x_column in AGAINST:
                    xs, ys = points(family, pass_, xla, column, x_column)
                    if len(xs) < MIN_POINTS:
                        continue
                    try:
                        law = fit_power_law(xs, ys)
                    except ValueError:  # e.g. every capacity has the same params
                        continue
                    fits.append(ScalingFit(family.name, pass_, xla, quantity, against, law))
    return fits


def scaling_section(families: list[Family]) -> str:
    """A table of the fitted exponents, a row per family, pass, XLA and quantity.

    >>> scaling_section([])
    'No family has three or more measured capacities, so no power laws were fitted.'
    """
    fits = [fit for family in families for fit in scaling_fits(family)]
    if not fits:
        return "No family has three or more measured capacities, so no power laws were fitted."
    by_row: dict[tuple[str, str, bool, str], dict[str, PowerLaw]] = {}
    for fit in fits:
        by_row.setdefault((fit.family, fit.pass_, fit.xla, fit.quantity), {})[fit.against] = fit.law
    rows = []
    for (family, pass_, xla, quantity), laws in by_row.items():
        cells = []
        for against, _ in AGAINST:
            law = laws.get(against)
            cells += _law_cells(law)
        count = max(law.n for law in laws.values())
        rows.append([family, pass_, "on" if xla else "off", quantity, str(count), *cells])
    headers = [
        "family", "pass", "XLA", "y", "n", "b vs params", "95% CI", "R²", "b vs FLOPs",
        "95% CI", "R²",
    ]  # fmt: skip
    note = (
        "Exponents b of `y ≈ a·x^b`, fitted by least squares in log-log space over the "
        "capacities of a family at its batch size (x: params, or FLOPs per step). The 95% "
        "interval uses the t-distribution with n − 2 degrees of freedom on the slope's "
        "standard error; fits need at least three capacities."
    )
    return note + "\n\n" + table(headers, rows, left=4)


def _law_cells(law: PowerLaw | None) -> list[str]:
    if law is None:
        return [MISSING, MISSING, MISSING]
    interval = f"[{format_number(law.b_low)}, {format_number(law.b_high)}]"
    return [format_number(law.b), interval, format_number(law.r2)]
