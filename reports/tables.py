"""The per-family tables of the report, a row per capacity.

One wide table would not fit a screen, so each family gets up to five sub-tables that share
the knob columns: *step time* (params, FLOPs, forward and train step, XLA off and on),
*throughput* (samples/s, achieved FLOP/s, % of peak, Keras ``fit()`` step, or ``predict()``
step when the family's main pass is forward), *XLA* (compile
times, speedup, correctness check), *memory* and, when fit cells exist, *training*
(metrics over seeds). Columns with no data at all are dropped; a sub-table with no data is
left out. All values are at the family's chosen batch size (see :mod:`reports.families`).

>>> XLA_TOLERANCE
0.001
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from bench.spec.backends import COMPILE_MODES, not_timed
from reports.families import Family
from reports.frames import format_knob, is_default_condition, knob_values
from reports.markdown import drop_empty_columns, table
from reports.units import (
    MISSING,
    format_bytes,
    format_count,
    format_flops,
    format_flops_rate,
    format_mean_std,
    format_number,
    format_percent,
    format_ratio,
    format_scientific,
    format_seconds,
    format_seconds_spread,
    is_missing,
)

# Outputs with and without XLA agree when their max abs difference is at most this. The
# store keeps the absolute difference only (not the output scale); block outputs come from
# unit-scale inputs, so an absolute bound of 1e-3 is a relative bound of about 1e-3.
XLA_TOLERANCE = 1e-3

GAP = "gap = validation loss − running train loss (Keras history) at the last epoch"
TRAINING_NOTE = (
    f"Mean ± std over seeds; {GAP}. Train and validation numbers are at the final epoch "
    "(inference mode; train on the labels trained on, corrupted when the data says so); "
    "test accuracy is at the best-validation epoch (early-stopped). Test error appears "
    "twice: at the final epoch and early-stopped (best-validation epoch). Results from "
    "before inference-mode evaluation report Keras's running training-mode averages as "
    "train numbers."
)

SECTION_NOTE = (
    "Step times are the median of seconds per step over every round's samples ± half its "
    "95% interval (a hierarchical bootstrap: rounds, then samples within them; each round "
    "ran in a fresh process, cells shuffled), with Python dispatch amortised over many "
    "steps per traced call; samples are taken at the run's typical machine speed where "
    "their start times allow (see *Machine state*). Columns marked XLA ran with "
    "`jit_compile=True`. "
    "*Keras fit() step* is the end-to-end time per step of `model.fit` (*Keras predict() "
    "step*, of `model.predict`, in a family measured in forward passes only), Python "
    "dispatch included. Achieved FLOP/s counts a train step as 3× the forward FLOPs; % of peak is "
    "against the device's measured peak-FLOP probe. XLA speedup is the step time without "
    "XLA divided by the time with it; the check compares outputs with and without XLA "
    f"(✓ when the max abs difference is at most {XLA_TOLERANCE:g}). Training metrics are "
    f"mean ± std over seeds; {GAP} (a running training-mode average, not an evaluation)."
)

_Cells = Callable[[str], list[str]]


def family_section(family: Family) -> str:
    """The markdown of one family: heading, batch-size note and its sub-tables.

    >>> from reports.families import Family
    >>> print(family_section(Family("x", (), (), None, (), "no timing cells", {},
    ...     pd.DataFrame(columns=["capacity", "status"]))))
    ### x
    <BLANKLINE>
    No results for this family.
    """
    parts = [f"### {family.name}"]
    if family.batch_size is not None:
        others = [str(b) for b in family.batch_sizes if b != family.batch_size]
        also = f" (also measured: {', '.join(others)})" if others else ""
        parts.append(f"Batch size {family.batch_size}: {family.batch_reason}{also}.")
    if family.backend != "tensorflow" and family.cells:
        off, on = COMPILE_MODES[family.backend]
        skipped = not_timed(family.backend, False)
        parts.append(
            f"Backend **{family.backend}**: columns marked XLA ran with {on}; without it "
            f"means {off}." + (f" {skipped[0].upper()}{skipped[1:]}." if skipped else "")
        )
    tables = [
        ("Step time", step_time_table(family)),
        (f"Spread of the {family.main_pass} step time", spread_table(family)),
        (f"Throughput ({family.main_pass} step)", throughput_table(family)),
        ("XLA", xla_table(family)),
        (f"Memory ({family.main_pass} step)", memory_table(family)),
        ("Training (fit)", training_table(family)),
    ]
    for title, text in tables:
        if text:
            parts += [f"#### {title}", text]
    if len(parts) == 1 or (len(parts) == 2 and family.batch_size is not None):
        parts.append("No results for this family.")
    return "\n\n".join(parts)


def _knob_cells(family: Family, capacity: str) -> list[str]:
    values = knob_values(capacity)
    return [format_knob(values[k]) if k in values else MISSING for k in family.knob_names]


def _render(family: Family, headers: list[str], cells: _Cells) -> str:
    """A row per timing capacity: knob cells plus ``cells(capacity)``; empty columns
    dropped; '' if no data."""
    keep = len(family.knob_names)
    rows = [_knob_cells(family, c) + cells(c) for c in family.timing_capacities]
    headers, rows = drop_empty_columns([*family.knob_names, *headers], rows, keep=keep)
    if len(headers) == keep or not rows:
        return ""
    return table(headers, rows, left=keep)


def _variants(family: Family, passes: tuple[str, ...]) -> list[tuple[str, bool, str]]:
    return [
        (pass_, xla, f"{pass_}{' XLA' if xla else ''}") for pass_ in passes for xla in (False, True)
    ]


def step_time_table(family: Family) -> str:
    """Params, forward FLOPs per example and the median step time per pass and XLA, with
    its 95% interval as ± half its width."""
    if not family.timing_passes:
        return ""  # a family with fit cells only: the training table has its params
    variants = _variants(family, family.timing_passes)

    def cells(capacity: str) -> list[str]:
        times = [
            format_seconds_spread(
                family.value(capacity, p, x, "step_s_median"),
                _half_width(family, capacity, p, x),
            )
            for p, x, _ in variants
        ]
        return [format_count(family.params(capacity)), format_flops(family.flops(capacity)), *times]

    return _render(family, ["params", "FLOPs/example", *[v[2] for v in variants]], cells)


def spread_table(family: Family) -> str:
    """Within- and between-round spread of the main pass's step time, and the rounds."""
    pass_ = family.main_pass
    if pass_ is None:
        return ""
    variants = [(pass_, xla, "XLA" if xla else "no XLA") for xla in (False, True)]

    def cells(capacity: str) -> list[str]:
        out = []
        for p, x, _ in variants:
            rounds = family.value(capacity, p, x, "rounds")
            out += [
                format_percent(family.value(capacity, p, x, "spread_within")),
                format_percent(family.value(capacity, p, x, "spread_between")),
                MISSING if is_missing(rounds) else str(int(rounds)),
            ]
        return out

    headers = [f"{h} ({v[2]})" for v in variants for h in ("within", "between", "rounds")]
    return _render(family, headers, cells)


def _half_width(family: Family, capacity: str, pass_: str, xla: bool) -> float | None:
    low = family.value(capacity, pass_, xla, "step_s_ci_low")
    high = family.value(capacity, pass_, xla, "step_s_ci_high")
    if is_missing(low) or is_missing(high):
        return family.value(capacity, pass_, xla, "step_s_iqr")  # a store from before rounds
    return (high - low) / 2


def throughput_table(family: Family) -> str:
    """Samples/s, achieved FLOP/s, % of peak and the Keras step, XLA off and on.

    The Keras step is of the main pass only: ``fit()`` for train, ``predict()`` for forward.
    """
    pass_ = family.main_pass
    if pass_ is None:
        return ""

    def per_xla(capacity: str, column: str, fmt: Callable[[Any], str]) -> list[str]:
        return [fmt(family.value(capacity, pass_, x, column)) for x in (False, True)]

    def keras_step(capacity: str, xla: bool) -> str:
        return format_seconds(family.value(capacity, pass_, xla, "fit_step_s"))

    def cells(capacity: str) -> list[str]:
        return [
            *per_xla(capacity, "samples_per_s", format_number),
            *per_xla(capacity, "gflops_per_s", lambda v: format_flops_rate(_times(v, 1e9))),
            *per_xla(capacity, "pct_of_peak", lambda v: format_percent(_times(v, 0.01))),
            keras_step(capacity, False),
            keras_step(capacity, True),
        ]

    keras = keras_step_label(pass_)
    headers = [
        "samples/s", "samples/s XLA", "achieved", "achieved XLA", "% of peak",
        "% of peak XLA", keras, f"{keras} XLA",
    ]  # fmt: skip
    text = _render(family, headers, cells)
    measured = [
        family.value(c, pass_, x, "fit_step_s")
        for c in family.timing_capacities
        for x in (False, True)
    ]
    if text and all(is_missing(v) for v in measured):
        text += (f"\n\nThe {keras} was not measured in this run (`fit_step = false` in its "
                 "config, or the measurement failed: see Problems).")  # fmt: skip
    return text


def keras_step_label(pass_: str) -> str:
    """The column header of the end-to-end Keras step of a pass.

    >>> keras_step_label("train"), keras_step_label("forward")
    ('Keras fit() step', 'Keras predict() step')
    """
    return "Keras fit() step" if pass_ == "train" else "Keras predict() step"


def xla_table(family: Family) -> str:
    """Compile time per pass and XLA, XLA speedup per pass and the correctness check."""
    variants = _variants(family, family.timing_passes)

    def cells(capacity: str) -> list[str]:
        compiles = [
            format_seconds(family.value(capacity, p, x, "compile_s")) for p, x, _ in variants
        ]
        speedups = [
            format_ratio(
                _ratio(
                    family.value(capacity, p, False, "step_s_median"),
                    family.value(capacity, p, True, "step_s_median"),
                )
            )
            for p in family.timing_passes
        ]
        diffs = [
            family.value(capacity, p, x, "xla_max_abs_diff")
            for p, x, _ in variants
            if family.value(capacity, p, x, "xla_max_abs_diff") is not None
        ]
        worst = max(diffs) if diffs else None
        check = MISSING if worst is None else ("✓" if worst <= XLA_TOLERANCE else "✗")
        return [*compiles, *speedups, format_scientific(worst), check]

    headers = [
        *[f"compile {v[2]}" for v in variants],
        *[f"XLA speedup {p}" for p in family.timing_passes],
        "max abs diff",
        "check",
    ]
    return _render(family, headers, cells)


def memory_table(family: Family) -> str:
    """Allocator peak (XLA off and on), the estimate, measured/estimate and host RSS peak."""
    pass_ = family.main_pass
    if pass_ is None:
        return ""

    def cells(capacity: str) -> list[str]:
        off = family.cell(capacity, pass_, False) or {}
        on = family.cell(capacity, pass_, True) or {}
        estimate = _first(off.get("peak_bytes_estimate"), on.get("peak_bytes_estimate"))
        return [
            format_bytes(_value(off, "peak_bytes")),
            format_bytes(_value(on, "peak_bytes")),
            format_bytes(estimate),
            format_ratio(_value(off, "peak_ratio")),
            format_ratio(_value(on, "peak_ratio")),
            format_bytes(_value(off, "rss_peak_bytes")),
            format_bytes(_value(on, "rss_peak_bytes")),
        ]

    headers = [
        "peak", "peak XLA", "estimate", "measured/estimate", "measured/estimate XLA",
        "host RSS peak", "host RSS peak XLA",
    ]  # fmt: skip
    text = _render(family, headers, cells)
    allocators = sorted(
        {
            str(row["allocator"])
            for key, row in family.cells.items()
            if key[1] == pass_
            and key[3] == family.batch_size
            and not is_missing(row.get("allocator"))
        }
    )
    if text and allocators:
        text += "\n\nAllocator: " + "; ".join(f"`{a}`" for a in allocators) + "."
    return text


def training_table(family: Family) -> str:
    """Train, validation and test metric, gap, onset epoch and memorisation over seeds.

    A row per fit group (the seeds of one fit configuration), after :data:`TRAINING_NOTE`.
    Columns for XLA and batch size appear only when they vary among the family's fit rows
    (otherwise rows that differ in them would look like duplicates); params are the fit
    cells' own (their model, with its classification head), not a timing cell's.
    """
    fits = family.fits
    if fits.empty:
        return ""
    metrics = sorted(set(fits["metric"].dropna()))
    metric = metrics[0] if len(metrics) == 1 else "metric"
    keep = len(family.knob_names)
    show_xla = fits["xla"].map(bool).nunique() > 1
    show_batch = fits["batch_size"].nunique() > 1
    rows = []
    order = {capacity: i for i, capacity in enumerate(family.capacities)}
    groups = sorted(
        fits.groupby("group_id"),
        key=lambda item: (
            order.get(item[1]["capacity"].iloc[0], len(order)),
            not bool(is_default_condition(item[1]).iloc[0]),
            item[1]["condition"].iloc[0],
            int(item[1]["batch_size"].iloc[0]),
            bool(item[1]["xla"].iloc[0]),
        ),
    )
    for _, group in groups:
        ok = group[group["status"] == "ok"]
        seeds = str(len(ok)) if len(ok) == len(group) else f"{len(ok)} of {len(group)}"
        first = group.iloc[0]
        settings = [str(first["condition"])]
        if show_batch:
            settings.append(str(int(first["batch_size"])))
        if show_xla:
            settings.append("on" if bool(first["xla"]) else "off")
        rows.append(
            [
                *_knob_cells(family, first["capacity"]),
                *settings,
                seeds,
                format_count(_fit_params(group)),
                _mean_std(ok["final_train_metric"]),
                _mean_std(ok["final_val_metric"]),
                _mean_std(ok["test_metric"]),
                _mean_std(ok["final_test_error"]),
                _mean_std(ok["best_test_error"]),
                _mean_std(ok["gap_end"]),
                _onset(ok["onset_epoch"]),
                _mean_std(ok["memorisation"]),
            ]
        )
    setting_headers = ["data", *(["batch"] if show_batch else []), *(["XLA"] if show_xla else [])]
    headers = [
        *family.knob_names, *setting_headers, "seeds", "params", f"train {metric}",
        f"val {metric}", f"test {metric}", "test error (final)",
        "test error (early-stopped)", "gap", "onset epoch", "memorisation",
    ]  # fmt: skip
    left = keep + len(setting_headers)
    headers, rows = drop_empty_columns(headers, rows, keep=left + 1)
    return f"{TRAINING_NOTE}\n\n{table(headers, rows, left=left)}"


def _fit_params(group: pd.DataFrame) -> int | None:
    """The parameter count of a fit group's own model (its ok seeds first)."""
    ordered = pd.concat([group[group["status"] == "ok"], group[group["status"] != "ok"]])
    values = pd.to_numeric(ordered["params"], errors="coerce").dropna()
    return int(values.iloc[0]) if len(values) else None


def _mean_std(values: pd.Series) -> str:
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    if numbers.empty:
        return MISSING
    std = float(numbers.std()) if len(numbers) > 1 else None
    return format_mean_std(float(numbers.mean()), std)


def _onset(values: pd.Series) -> str:
    """Mean ± std of the onset epochs of the seeds that overfit, with how many did."""
    if values.empty:
        return MISSING
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    if numbers.empty:
        return "never"
    text = f"{numbers.mean():.1f}"  # epochs: one decimal place
    if len(numbers) > 1:
        text += f" ± {numbers.std():.1f}"
    return text if len(numbers) == len(values) else f"{text} ({len(numbers)} of {len(values)})"


def _value(row: dict[str, Any], column: str) -> Any:
    value = row.get(column)
    return None if is_missing(value) else value


def _first(*values: Any) -> Any:
    return next((v for v in values if not is_missing(v)), None)


def _times(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator
