"""The overfitting study: model-wise curves (test error against params), the interpolation
threshold, the peak and a sentence saying what the curve does.

Reads the fit records (:class:`bench.results.records.FitResult`) of a run; no TensorFlow.
Both test errors appear everywhere: *final* (last epoch trained) and *early-stopped*
(at the best-validation epoch).

Definitions, per dataset and label-noise condition, capacities ordered by params:

- a capacity *interpolates* when every seed's noisy-label train error reached epsilon;
- the *threshold* is the smallest capacity that interpolates;
- the *peak* is the capacity with the highest mean final test error past the curve's
  first minimum (the largest capacity when the curve only falls); its *height* is its
  mean final test error over the lowest mean among the smaller capacities, with a 95%
  bootstrap CI over seeds (seeds resampled per capacity). The sentence says where it sits
  against the threshold; with a finite epsilon, widths just below the threshold nearly
  interpolate, and the peak may sit there.

>>> points = [Point(100, [0.30, 0.32], [0.30, 0.31], [0.20, 0.22], [False, False]),
...           Point(1000, [0.40, 0.42], [0.25, 0.26], [0.0, 0.0], [True, True]),
...           Point(10000, [0.20, 0.22], [0.18, 0.19], [0.0, 0.0], [True, True])]
>>> curve = analyse(points, train_size=1000)
>>> curve.threshold, curve.peak, round(curve.ratio, 3)
(1000, 1000, 1.323)
>>> print(sentence(curve))  # doctest: +NORMALIZE_WHITESPACE
Final test error falls to 0.31 at 100 params, rises to 0.41 at 1,000 params (1.32x, 95% CI
1.25-1.40x; the interpolation threshold, 1.0x the 1,000 training samples) and comes down
again to 0.21 at 10,000 params (-0.20). Early-stopped test error at the same widths: 0.305,
0.255, 0.185.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench.results.records import FitResult

BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class Point:
    """One capacity: params and one value per seed of each number."""

    params: int
    final_test: Sequence[float]
    early_test: Sequence[float]
    train_error: Sequence[float]
    interpolated: Sequence[bool]

    @property
    def interpolates(self) -> bool:
        return bool(self.interpolated) and all(self.interpolated)


@dataclass(frozen=True)
class Curve:
    """What :func:`analyse` finds on one model-wise curve."""

    points: tuple[Point, ...]
    train_size: int
    threshold: int | None  # params of the smallest interpolating capacity
    peak: int | None
    best_smaller: int | None  # params of the lowest final test error below the peak
    ratio: float | None
    ci: tuple[float, float] | None


def _mean(values: Sequence[float]) -> float:
    kept = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(kept)) if kept else math.nan


def analyse(points: Sequence[Point], *, train_size: int) -> Curve:
    """Threshold, peak and peak height (with its bootstrap CI) of a model-wise curve."""
    points = tuple(sorted(points, key=lambda p: p.params))
    threshold = next((p for p in points if p.interpolates), None)
    if threshold is None:
        return Curve(points, train_size, None, None, None, None, None)
    # The peak is looked for past the curve's first minimum, wherever it falls against the
    # threshold: with a finite epsilon, widths just below the threshold nearly interpolate
    # too, and the peak may sit there.
    means = [_mean(p.final_test) for p in points]
    first_min = next((i for i in range(len(points) - 1) if means[i] <= means[i + 1]), None)
    beyond = list(points[first_min + 1 :]) if first_min is not None else [points[-1]]
    peak = max(beyond, key=lambda p: _mean(p.final_test))
    smaller = [p for p in points if p.params < peak.params and not math.isnan(_mean(p.final_test))]
    if not smaller:
        return Curve(points, train_size, threshold.params, peak.params, None, None, None)
    best = min(smaller, key=lambda p: _mean(p.final_test))
    ratio = _mean(peak.final_test) / _mean(best.final_test)
    return Curve(
        points, train_size, threshold.params, peak.params, best.params, ratio,
        _bootstrap(peak, smaller),
    )  # fmt: skip


def _bootstrap(peak: Point, smaller: Sequence[Point]) -> tuple[float, float]:
    rng = np.random.default_rng(BOOTSTRAP_SEED)

    def resampled(point: Point) -> np.ndarray:
        values = np.array([v for v in point.final_test if v is not None], dtype=float)
        picks = rng.integers(0, len(values), size=(BOOTSTRAP_SAMPLES, len(values)))
        return values[picks].mean(axis=1)

    best = np.min(np.stack([resampled(p) for p in smaller]), axis=0)
    ratios = resampled(peak) / best
    low, high = np.percentile(ratios, [2.5, 97.5])
    return float(low), float(high)


def sentence(curve: Curve) -> str:
    """What the curve does, in words generated from the numbers.

    >>> no = analyse([Point(100, [0.3], [0.3], [0.2], [False])], train_size=1000)
    >>> sentence(no)
    'Training did not reach interpolation (noisy-label train error <= epsilon for every \
seed) at any width; lowest train error 0.20 at 100 params. No conclusion about a peak.'
    """
    by_params = {p.params: p for p in curve.points}
    if curve.threshold is None:
        best = min(curve.points, key=lambda p: _mean(p.train_error))
        return (
            "Training did not reach interpolation (noisy-label train error <= epsilon for "
            f"every seed) at any width; lowest train error {_mean(best.train_error):.2f} at "
            f"{best.params:,} params. No conclusion about a peak."
        )
    where = (
        f"the interpolation threshold, {curve.threshold / curve.train_size:.1f}x the "
        f"{curve.train_size:,} training samples"
    )
    if curve.peak != curve.threshold:
        where = f"interpolation threshold at {curve.threshold:,} params"
    if curve.ratio is None or curve.best_smaller is None:
        return f"Every width interpolates ({where}); no smaller width to compare the peak with."
    best, peak = by_params[curve.best_smaller], by_params[curve.peak]
    low, high = curve.ci
    height = f"{curve.ratio:.2f}x, 95% CI {low:.2f}-{high:.2f}x; {where}"
    head = f"Final test error falls to {_mean(best.final_test):.2f} at {best.params:,} params, "
    if low > 1:
        rise = f"rises to {_mean(peak.final_test):.2f} at {peak.params:,} params ({height})"
    elif curve.ratio > 1:
        rise = (
            f"is higher at {peak.params:,} params ({_mean(peak.final_test):.2f}; {height}) "
            "but the CI includes 1: inconclusive"
        )
    else:
        rise = f"and does not rise again ({height})"
    after = [p for p in curve.points if p.params > peak.params]
    tail = ""
    if after and low > 1:
        lowest = min(after, key=lambda p: _mean(p.final_test))
        drop = _mean(lowest.final_test) - _mean(peak.final_test)
        if drop < 0:
            tail = (
                f" and comes down again to {_mean(lowest.final_test):.2f} at "
                f"{lowest.params:,} params ({drop:+.2f})"
            )
        else:
            tail = " and does not come down again within the widths run"
    shown = [best, peak, *([lowest] if after and low > 1 else [])]
    early = ", ".join(f"{_mean(p.early_test):.3g}" for p in shown)
    return f"{head}{rise}{tail}. Early-stopped test error at the same widths: {early}."


# -- from a run's records -------------------------------------------------------------------
def records(fits: pd.DataFrame, results: dict[str, FitResult]) -> pd.DataFrame:
    """One row per ok fit seed: the identity columns of ``fits`` (family, condition,
    capacity, params, seed, random_labels) joined with the study's numbers from
    ``results`` (cell id -> :class:`FitResult`)."""
    rows = []
    for _, row in fits[fits["status"] == "ok"].iterrows():
        result = results.get(row["cell_id"])
        if result is None or result.final_test_error is None and result.stopped == "":
            continue
        rows.append(
            {
                "family": row["family"], "condition": row["condition"],
                "capacity": row["capacity"], "params": result.params, "seed": row["seed"],
                "random_labels": bool(row["random_labels"]), "train_size": result.train_size,
                "final_test": result.final_test_error, "early_test": result.best_test_error,
                "train_error": result.final_train_error,
                "interpolated": result.interpolation_epoch is not None,
                "interpolation_epoch": result.interpolation_epoch,
                "epochs_run": result.epochs_run, "stopped": result.stopped,
                "epsilon": result.epsilon,
            }
        )  # fmt: skip
    return pd.DataFrame(rows)


def curves_of(table: pd.DataFrame) -> dict[tuple[str, str], Curve]:
    """One analysed model-wise curve per (family, condition), random labels left out."""
    out = {}
    if table.empty:
        return out
    for (family, condition), rows in table[~table["random_labels"]].groupby(
        ["family", "condition"]
    ):
        if rows["params"].nunique() < 2:
            continue
        points = [
            Point(int(params), g["final_test"].tolist(), g["early_test"].tolist(),
                  g["train_error"].tolist(), g["interpolated"].tolist())
            for params, g in rows.groupby("params")
        ]  # fmt: skip
        out[(family, condition)] = analyse(points, train_size=int(rows["train_size"].iloc[0]))
    return out


def section(table: pd.DataFrame) -> str:
    """The report section: a table and a sentence per model-wise curve, and the random-
    label memorisation table."""
    if table.empty:
        return "No fit cells finished, so there is no overfitting study."
    parts = [
        "Test error twice: *final* (last epoch trained) and *early-stopped* (at the "
        "best-validation epoch). Train error is on the labels trained on (noisy where "
        "labels were corrupted); *interpolated* counts the seeds whose train error reached "
        "epsilon, *epochs* is mean ± std of epochs trained. Mean ± std over seeds."
    ]
    for (family, condition), curve in curves_of(table).items():
        rows = table[(table["family"] == family) & (table["condition"] == condition)]
        parts.append(f"### {family}: {condition}")
        parts.append(_curve_table(rows, curve))
        parts.append(sentence(curve))
    random = table[table["random_labels"]]
    if not random.empty:
        parts.append("### Random labels: memorisation")
        lines = ["| family | params | train accuracy reached | epochs | stopped |",
                 "|---|---:|---:|---:|---|"]  # fmt: skip
        for (family, params), g in random.groupby(["family", "params"]):
            stopped = ", ".join(f"{k} x{v}" for k, v in g["stopped"].value_counts().items())
            lines.append(
                f"| {family} | {params:,} | {_pm(1 - g['train_error'])} | "
                f"{_pm(g['epochs_run'], digits=0)} | {stopped} |"
            )
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _curve_table(rows: pd.DataFrame, curve: Curve) -> str:
    lines = [
        "| params | x train size | final test error | early-stopped test error | "
        "train error | interpolated | epochs | |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for params, g in rows.groupby("params"):
        marks = []
        if params == curve.threshold:
            marks.append("threshold")
        if params == curve.peak and curve.ratio is not None:
            marks.append("peak")
        lines.append(
            f"| {params:,} | {params / curve.train_size:.2f} | {_pm(g['final_test'])} | "
            f"{_pm(g['early_test'])} | {_pm(g['train_error'])} | "
            f"{int(g['interpolated'].sum())}/{len(g)} | {_pm(g['epochs_run'], digits=0)} | "
            f"{' '.join(marks)} |"
        )
    return "\n".join(lines)


def _pm(values: pd.Series, *, digits: int = 3) -> str:
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    if numbers.empty:
        return "–"
    std = float(numbers.std()) if len(numbers) > 1 else 0.0
    return f"{numbers.mean():.{digits}f} ± {std:.{digits}f}"
