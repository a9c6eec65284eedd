"""Scaling laws of a run: step time and peak memory against params and FLOPs.

Beside the power laws, the law a reader can act on: ``step time ≈ overhead + FLOPs ÷
throughput`` per family, pass and XLA setting (:func:`overhead_section`): the fixed cost
of a step, the FLOP/s reached at large capacity, and the capacity where compute starts
to dominate, each with a 95% interval; a fit whose interval is wider than its estimate
is marked *inconclusive* rather than read.

For each family, timing pass and XLA setting, the capacities measured at the family's
batch size give points; where there are at least three (with two distinct x), a power
law ``y ≈ a·x^b`` is fitted (:func:`reports.scaling.fit_power_law`). FLOPs are per step
(forward FLOPs × batch, × 3 for a train step). A family swept along two knobs (the
transformer's units, and its depth at one width) gets a law per knob (:func:`sweeps`):
mixed, the two sweeps' different costs per FLOP made one curve of two (R² 0.67 here).

>>> QUANTITIES
(('step time', 'step_s_median'), ('peak memory', 'peak_bytes'))
"""

from __future__ import annotations

from dataclasses import dataclass

from reports.families import Family
from reports.frames import capacity_label, knob_values
from reports.markdown import table
from reports.scaling import OverheadLaw, PowerLaw, fit_overhead_law, fit_power_law
from reports.units import (
    MISSING,
    format_count,
    format_flops,
    format_flops_rate,
    format_number,
    format_seconds,
)

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


def sweeps(family: Family) -> list[tuple[str, tuple[str, ...]]]:
    """The family's timing capacities split by the knobs they set, each group named by the
    knobs that vary in it (``""`` when the family has one group: nothing to tell apart).

    >>> from reports.families import Family
    >>> caps = ('{"units": 8}', '{"units": 16}', '{"depth": 2, "units": 32}',
    ...         '{"depth": 3, "units": 32}')
    >>> cells = {(c, "train", False, 32): {} for c in caps}
    >>> family = Family("t", ("units", "depth"), caps, 32, (32,), "", cells, None)
    >>> [(knob, len(capacities)) for knob, capacities in sweeps(family)]
    [('units', 2), ('depth', 2)]
    """
    groups: dict[tuple[str, ...], list[str]] = {}
    for capacity in family.timing_capacities:
        groups.setdefault(tuple(sorted(knob_values(capacity))), []).append(capacity)
    if len(groups) <= 1:
        return [("", family.capacities)]
    named = []
    for members in groups.values():
        values = [knob_values(c) for c in members]
        varying = [k for k in values[0] if len({str(v[k]) for v in values}) > 1]
        named.append((", ".join(varying) or ", ".join(values[0]), tuple(members)))
    return sorted(named, key=lambda sweep: -len(sweep[1]))  # the main sweep first


def sweep_name(family: Family, knob: str) -> str:
    """The family's name in a law's row: with the knob when it has several sweeps."""
    return f"{family.name} ({knob})" if knob else family.name


def points(
    family: Family,
    pass_: str,
    xla: bool,
    column: str,
    against: str = "params",
    capacities: tuple[str, ...] | None = None,
) -> tuple[list[float], list[float]]:
    """The ``(x, y)`` points of one family, pass and XLA setting (positive values only),
    over ``capacities`` (default: all of the family's)."""
    xs, ys = [], []
    for capacity in family.capacities if capacities is None else capacities:
        x = family.value(capacity, pass_, xla, against)
        y = family.value(capacity, pass_, xla, column)
        if x is not None and y is not None and x > 0 and y > 0:
            xs.append(float(x))
            ys.append(float(y))
    return xs, ys


def scaling_fits(family: Family) -> list[ScalingFit]:
    """Every law with enough points in one family."""
    fits = []
    for knob, capacities in sweeps(family):
        name = sweep_name(family, knob)
        for pass_ in family.timing_passes:
            for xla in (False, True):
                for quantity, column in QUANTITIES:
                    for against, x_column in AGAINST:
                        xs, ys = points(family, pass_, xla, column, x_column, capacities)
                        if len(xs) < MIN_POINTS:
                            continue
                        try:
                            law = fit_power_law(xs, ys)
                        except ValueError:  # e.g. every capacity has the same params
                            continue
                        fits.append(ScalingFit(name, pass_, xla, quantity, against, law))
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


@dataclass(frozen=True)
class OverheadFit:
    """The overhead law of one sweep of a family, pass and XLA setting; the points'
    FLOPs per step and params ride along, for the crossover, and the sweep's capacities."""

    name: str  # the family, with the knob when it has several sweeps
    pass_: str
    xla: bool
    law: OverheadLaw
    flops: list[float]
    params: list[float]
    capacities: tuple[str, ...] = ()


def overhead_fits(family: Family) -> list[OverheadFit]:
    """Every sweep, pass and XLA setting of the family with enough capacities."""
    fits = []
    for knob, capacities in sweeps(family):
        for pass_ in family.timing_passes:
            for xla in (False, True):
                flops, seconds = points(
                    family, pass_, xla, "step_s_median", "flops_per_step", capacities
                )
                if len(flops) < MIN_POINTS:
                    continue
                params = [
                    float(family.value(c, pass_, xla, "params") or 0)
                    for c in capacities
                    if (family.value(c, pass_, xla, "flops_per_step") or 0) > 0
                    and (family.value(c, pass_, xla, "step_s_median") or 0) > 0
                ]
                try:
                    law = fit_overhead_law(flops, seconds)
                except ValueError:
                    continue
                fits.append(OverheadFit(sweep_name(family, knob), pass_, xla, law, flops,
                                        params, capacities))  # fmt: skip
    return fits


def crossover_params(law: OverheadLaw, flops: list[float], params: list[float]) -> float | None:
    """The params at which the family's FLOPs per step reach the crossover, by log-log
    interpolation between measured capacities (``None`` outside the measured range).

    >>> law = fit_overhead_law([1e6, 1e7, 1e8, 1e9], [1.1e-4, 2e-4, 1.1e-3, 1.01e-2])
    >>> round(crossover_params(law, [1e6, 1e7, 1e8, 1e9], [1e3, 1e4, 1e5, 1e6]))
    10000
    """
    import math

    pairs = sorted((f, p) for f, p in zip(flops, params, strict=True) if f > 0 and p > 0)
    target = law.crossover_flops
    for (f0, p0), (f1, p1) in zip(pairs, pairs[1:], strict=False):
        if f0 <= target <= f1 and f1 > f0:
            t = (math.log(target) - math.log(f0)) / (math.log(f1) - math.log(f0))
            return math.exp(math.log(p0) + t * (math.log(p1) - math.log(p0)))
    return None


def reversal(family: Family, fit: OverheadFit) -> str | None:
    """Where the step time *falls* as FLOPs grow, beyond both cells' 95% intervals: no
    ``overhead + FLOPs ÷ throughput`` law describes that (XLA:CPU picking another kernel
    for a small channel count does it), so the row says so. ``None`` when the step time
    never falls beyond the intervals.

    >>> from reports.families import Family
    >>> caps = ('{"filters": 4}', '{"filters": 8}', '{"filters": 16}')
    >>> rows = [(4e6, 1.8e-3, 0.05), (8e6, 1.2e-3, 0.05), (16e6, 1.5e-3, 0.05)]
    >>> cells = {(c, "forward", True, 32): {"flops_per_step": f, "step_s_median": t,
    ...          "step_s_ci_low": t * (1 - e), "step_s_ci_high": t * (1 + e)}
    ...          for c, (f, t, e) in zip(caps, rows)}
    >>> family = Family("residual", ("filters",), caps, 32, (32,), "", cells, None)
    >>> fit = OverheadFit("residual", "forward", True, None, [], [], caps)
    >>> reversal(family, fit)
    'filters=4 (1.80 ms) is slower than filters=8 (1.20 ms)'
    """
    measured = []
    for capacity in fit.capacities:
        columns = ("flops_per_step", "step_s_median", "step_s_ci_low", "step_s_ci_high")
        values = [family.value(capacity, fit.pass_, fit.xla, column) for column in columns]
        if all(v is not None for v in values):
            measured.append((capacity, *values))
    measured.sort(key=lambda m: m[1])
    for small, large in zip(measured, measured[1:], strict=False):
        if large[1] > small[1] and large[4] < small[3]:  # more FLOPs, faster beyond the CIs
            return (f"{capacity_label(small[0])} ({format_seconds(small[2])}) is slower than "
                    f"{capacity_label(large[0])} ({format_seconds(large[2])})")  # fmt: skip
    return None


def overhead_section(families: list[Family]) -> str:
    """A row per family, pass and XLA: overhead, throughput, crossover, R², verdict.

    >>> overhead_section([])
    'No family has three or more measured capacities, so no overhead law was fitted.'
    """
    rows = []
    for family in families:
        for fit in overhead_fits(family):
            law = fit.law
            cross = crossover_params(law, fit.flops, fit.params)
            falls = reversal(family, fit)
            rows.append(
                [
                    fit.name,
                    fit.pass_,
                    "on" if fit.xla else "off",
                    str(law.n),
                    _interval(
                        law.overhead_s, law.overhead_low, law.overhead_high, format_seconds
                    ),  # fmt: skip
                    _interval(
                        law.throughput, law.throughput_low, law.throughput_high, format_flops_rate
                    ),  # fmt: skip
                    _interval(
                        law.crossover_flops, law.crossover_low, law.crossover_high, format_flops
                    ),  # fmt: skip
                    format_count(round(cross)) if cross else "outside the measured range",
                    format_number(law.r2),
                    f"no law: {falls}" if falls else "fits" if law.conclusive else "inconclusive",
                ]
            )
    if not rows:
        return "No family has three or more measured capacities, so no overhead law was fitted."
    headers = ["family", "pass", "XLA", "n", "overhead / step", "throughput",
               "crossover FLOPs/step", "crossover params", "R²", "verdict"]  # fmt: skip
    note = (
        "`step time ≈ overhead + FLOPs per step ÷ throughput`, fitted by weighted least "
        "squares (weights 1/time², as timing noise is relative) over a family's capacities "
        "at its batch size; [95% intervals] from the t-distribution with n − 2 degrees of "
        "freedom. *Overhead* is what a step costs whatever its size (dispatch, launches, "
        "small ops); *throughput* the FLOP/s the step reaches at large capacity; the "
        "*crossover* is where compute time equals the overhead: below it, a bigger block "
        "costs little extra time. *Inconclusive*: an interval wider than its estimate, so "
        "the numbers are shown but not to be read as a law. *No law*: a larger capacity ran "
        "faster than a smaller one beyond both 95% intervals, which no overhead plus "
        "FLOPs law describes."
    )
    return note + "\n\n" + table(headers, rows, left=3)


def _interval(value: float, low: float | None, high: float | None, fmt) -> str:
    bounds = f"{fmt(low) if low is not None else '?'}, {fmt(high) if high is not None else '∞'}"
    return f"{fmt(value)} [{bounds}]"
