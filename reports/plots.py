"""The report's PNG plots, drawn with matplotlib's object API on the Agg canvas.

Figures are made with :class:`matplotlib.figure.Figure` and rendered by
:class:`~matplotlib.backends.backend_agg.FigureCanvasAgg` directly, never through
``pyplot``: that is the Agg backend without ``matplotlib.use("Agg")``, so nothing here
changes global matplotlib state (no figure registry, no backend switch in the caller's
process) and nothing needs a display. Each plot function returns a :class:`Plot`: a file
name, or a sentence saying why the plot was skipped.

>>> Plot("Step time", None, "No timing results.").markdown()
'No timing results.'
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter, MaxNLocator

from bench.spec.backends import compile_mode
from reports import overfitting
from reports.families import Family
from reports.frames import (
    RunData,
    capacity_label,
    format_knob,
    is_default_condition,
    knob_values,
)
from reports.laws import points, sweeps
from reports.scaling import fit_power_law

DPI = 100
PLOT_FILES = frozenset(
    {
        "step_time_vs_params.png",
        "throughput_vs_batch.png",
        "peak_memory_vs_params.png",
        "gap_vs_params.png",
        "learning_curves.png",
        "xla_speedup.png",
        "model_wise.png",
    }
)
MAX_COLUMNS = 3


@dataclass(frozen=True)
class Plot:
    """One plot of the report: its title and file name, or why it was skipped."""

    title: str
    filename: str | None
    note: str = ""

    def markdown(self) -> str:
        """An image link relative to the report, or the skip sentence."""
        if self.filename is None:
            return self.note
        text = f"![{self.title}]({self.filename})"
        return f"{text}\n\n{self.note}" if self.note else text


def _save(figure: Figure, path: Path) -> None:
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=DPI)


def _grid(count: int) -> tuple[Figure, list[Axes]]:
    columns = min(MAX_COLUMNS, count)
    rows = math.ceil(count / columns)
    figure = Figure(figsize=(4.2 * columns, 3.4 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel().tolist()
    for extra in axes[count:]:
        extra.set_visible(False)
    return figure, axes[:count]


def compact(value: float) -> str:
    """A tick label without mathtext: SI suffix from 1000 up, else 3 significant figures.

    >>> compact(2000.0), compact(31137.0), compact(0.0002), compact(1.5)
    ('2k', '31.1k', '0.0002', '1.5')
    """
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


class _LogLabels(Formatter):
    """Plain labels on a log axis; minor ticks (2 and 5 only) labelled on narrow ranges."""

    def __init__(self, *, minor: bool) -> None:
        self.minor = minor

    def __call__(self, value: float, pos: int | None = None) -> str:
        if value <= 0:
            return ""
        if self.minor:
            low, high = self.axis.get_view_interval()
            mantissa = round(value / 10 ** math.floor(math.log10(value)), 6)
            if low <= 0 or high / low > 30 or mantissa not in (2.0, 5.0):
                return ""
        return compact(value)


def _log(axes: Axes, *, x: bool = True, y: bool = True) -> None:
    """Log scales with plain tick labels on the chosen axes."""
    for on, axis, setter in ((x, axes.xaxis, axes.set_xscale), (y, axes.yaxis, axes.set_yscale)):
        if on:
            setter("log")
            axis.set_major_formatter(_LogLabels(minor=False))
            axis.set_minor_formatter(_LogLabels(minor=True))


def _legend(axes: Axes, **options: object) -> None:
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize="small", **options)


def _fit_line(
    axes: Axes, xs: list[float], ys: list[float], *, scale: float = 1.0, **style: object
) -> None:
    """The fitted power law over the data's x range (y multiplied by ``scale``)."""
    if len(xs) < 3 or len(set(xs)) < 2:
        return
    law = fit_power_law(xs, ys)
    grid = np.geomspace(min(xs), max(xs), 50)
    axes.plot(grid, law.predict(grid) * scale, linewidth=1, label=f"fit b={law.b:.2f}", **style)


def step_time_plot(families: list[Family], out_dir: Path) -> Plot:
    """Step time against params per family, XLA off and on, log-log, with fitted lines;
    a family swept along two knobs gets a marker and a line per knob (`reports.laws.sweeps`)."""
    title = "Step time against params"
    drawable = [
        f
        for f in families
        if f.main_pass and any(points(f, f.main_pass, x, "step_s_median")[0] for x in (False, True))
    ]
    if not drawable:
        return Plot(title, None, "No timing results, so there is no step-time plot.")
    figure, axes = _grid(len(drawable))
    for family, ax in zip(drawable, axes, strict=True):
        for (knob, capacities), marker in zip(sweeps(family), "o^sv", strict=False):
            for xla, color in ((False, "tab:blue"), (True, "tab:orange")):
                xs, ys = points(family, family.main_pass, xla, "step_s_median", "params",
                                capacities)  # fmt: skip
                if not xs:
                    continue
                label = (f"XLA {'on' if xla else 'off'}" if family.backend == "tensorflow"
                         else compile_mode(family.backend, xla))  # fmt: skip
                label += f" ({knob})" if knob else ""
                ax.scatter(xs, np.asarray(ys) * 1e3, color=color, marker=marker, label=label)
                _fit_line(ax, xs, ys, scale=1e3, color=color, linestyle="--")
        _log(ax)
        ax.set(title=family.name, xlabel="params")
        ax.set_ylabel(f"{family.main_pass} step time (ms), batch {family.batch_size}")
        _legend(ax)
    filename = "step_time_vs_params.png"
    _save(figure, out_dir / filename)
    return Plot(title, filename)


def throughput_plot(data: RunData, families: list[Family], out_dir: Path) -> Plot:
    """Samples/s against batch size per family, a line per capacity, XLA off and on."""
    title = "Throughput against batch size"
    ok = data.cells[(data.cells["status"] == "ok") & data.cells["samples_per_s"].notna()]
    drawable = []
    for family in families:
        rows = ok[(ok["family"] == family.name) & (ok["pass"] == family.main_pass)]
        if rows["batch_size"].nunique() > 1:
            drawable.append((family, rows))
    if not drawable:
        return Plot(
            title, None, "Each family was measured at one batch size only: no throughput plot."
        )
    figure, axes = _grid(len(drawable))
    for (family, rows), ax in zip(drawable, axes, strict=True):
        for index, (capacity, group) in enumerate(rows.groupby("capacity", sort=False)):
            color = f"C{index % 10}"
            for xla, style in ((False, "-"), (True, "--")):
                line = group[group["xla"] == xla].sort_values("batch_size")
                if line.empty:
                    continue
                label = capacity_label(capacity) + (" XLA" if xla else "")
                ax.plot(line["batch_size"], line["samples_per_s"], style, marker="o",
                        color=color, label=label)  # fmt: skip
        _log(ax)
        ax.set(title=family.name, xlabel="batch size")
        ax.set_ylabel(f"{family.main_pass} samples/s")
        _legend(ax)
    filename = "throughput_vs_batch.png"
    _save(figure, out_dir / filename)
    return Plot(title, filename, "Solid lines: XLA off; dashed: XLA on.")


def memory_plot(families: list[Family], out_dir: Path) -> Plot:
    """Allocator peak memory against params, a series per family (XLA off, else on)."""
    title = "Peak memory against params"
    series = []
    for family in families:
        for xla in (False, True):
            xs, ys = (
                points(family, family.main_pass, xla, "peak_bytes")
                if family.main_pass
                else ([], [])
            )
            if xs:
                series.append((f"{family.name} {family.main_pass}{' XLA' if xla else ''}", xs, ys))
                break
    if not series:
        return Plot(title, None, "No cell recorded its peak memory, so there is no memory plot.")
    figure = Figure(figsize=(5.5, 4), layout="constrained")
    ax = figure.subplots()
    for index, (label, xs, ys) in enumerate(series):
        color = f"C{index % 10}"
        ax.scatter(xs, np.asarray(ys) / 2**20, color=color, label=label)
        _fit_line(ax, xs, ys, scale=1 / 2**20, color=color, linestyle="--")
    _log(ax)
    ax.set(xlabel="params", ylabel="peak memory (MiB)")
    _legend(ax)
    filename = "peak_memory_vs_params.png"
    _save(figure, out_dir / filename)
    return Plot(title, filename)


def _clean_fits(data: RunData) -> pd.DataFrame:
    fits = data.fits
    if fits.empty:
        return fits
    return fits[(fits["status"] == "ok") & is_default_condition(fits)]


def gap_plot(data: RunData, out_dir: Path) -> Plot:
    """Generalisation gap at the last epoch against params, mean ± std over seeds."""
    title = "Generalisation gap against params"
    fits = _clean_fits(data)
    fits = fits[fits["gap_end"].notna() & fits["params"].notna()] if len(fits) else fits
    if fits.empty:
        return Plot(title, None, "No fit cells finished, so there is no generalisation-gap plot.")
    figure = Figure(figsize=(5.5, 4), layout="constrained")
    ax = figure.subplots()
    for index, (family, rows) in enumerate(fits.groupby("family")):
        stats = rows.groupby("params")["gap_end"].agg(["mean", "std"]).reset_index()
        ax.errorbar(stats["params"], stats["mean"], yerr=stats["std"].fillna(0.0), marker="o",
                    capsize=3, color=f"C{index % 10}", label=family)  # fmt: skip
    _log(ax, y=False)
    ax.set(xlabel="params", ylabel="val loss - train loss (last epoch)")
    ax.axhline(0.0, color="grey", linewidth=0.5)
    _legend(ax)
    filename = "gap_vs_params.png"
    _save(figure, out_dir / filename)
    return Plot(title, filename, "Clean labels only; error bars are ± one std over seeds.")


def learning_curve_plot(data: RunData, out_dir: Path) -> Plot:
    """Epoch-wise train (labels trained on) and final test error for up to four
    capacities of one family, mean over seeds, log epochs; legend ordered by params."""
    title = "Learning curves"
    curves = data.curves
    if not curves.empty and "test_error" in curves:
        curves = curves[curves["test_error"].notna()]
    if not curves.empty and "test_error" not in curves:
        return _metric_curve_plot(data, out_dir)
    if curves.empty:
        return Plot(title, None, "No error curves were recorded, so there is no curve plot.")
    counts = curves.groupby("family")["capacity"].nunique()
    family = str(counts.sort_index().idxmax())  # most capacities, first name on a tie
    rows = curves[curves["family"] == family]
    noise = pd.to_numeric(rows["label_noise"], errors="coerce").fillna(0.0)
    rows = rows[noise == noise.max()]  # the noisiest condition shows the most
    by_params = rows.groupby("capacity")["params"].first().sort_values()
    picks = list(by_params.index)
    if len(picks) > 4:
        picks = [picks[round(i * (len(picks) - 1) / 3)] for i in range(4)]
    figure = Figure(figsize=(10, 4), layout="constrained")
    train_ax, test_ax = figure.subplots(1, 2, sharey=True)
    numeric = ["train_error_noisy", "test_error"]
    for index, capacity in enumerate(picks):
        group = rows[rows["capacity"] == capacity]
        mean = group[["epoch", *numeric]].apply(pd.to_numeric, errors="coerce")
        mean = mean.groupby("epoch").mean()
        label = f"{capacity_label(capacity)} ({int(by_params[capacity]):,} params)"
        for ax, name in ((train_ax, "train_error_noisy"), (test_ax, "test_error")):
            ax.plot(mean.index, mean[name], "o-", markersize=3, color=f"C{index}", label=label)
    train_ax.set(title=f"{family}: train error (labels trained on)", xlabel="epoch",
                 ylabel="error")  # fmt: skip
    test_ax.set(title=f"{family}: test error", xlabel="epoch")
    for ax in (train_ax, test_ax):
        ax.set_xscale("log")
    _legend(test_ax)
    filename = "learning_curves.png"
    _save(figure, out_dir / filename)
    return Plot(
        title,
        filename,
        f"Family {family}, label noise {noise.max():g}, mean over seeds, inference mode.",
    )


def _metric_curve_plot(data: RunData, out_dir: Path) -> Plot:
    """Results recorded before error curves: loss and metric per epoch, each capacity
    of one family (mean over seeds)."""
    title = "Learning curves"
    curves = data.curves
    if not curves.empty:
        curves = curves[is_default_condition(curves)]
    if curves.empty:
        return Plot(title, None, "No learning curves were recorded, so there is no curve plot.")
    counts = curves.groupby("family")["capacity"].nunique()
    family = str(counts.sort_index().idxmax())  # most capacities, first name on a tie
    rows = curves[curves["family"] == family]
    figure = Figure(figsize=(10, 4), layout="constrained")
    loss_ax, metric_ax = figure.subplots(1, 2)
    numeric = ["train_loss", "val_loss", "train_metric", "val_metric"]
    for index, (capacity, group) in enumerate(rows.groupby("capacity")):
        mean = group.reindex(columns=["epoch", *numeric]).apply(pd.to_numeric, errors="coerce")
        mean = mean.groupby("epoch").mean()
        color, label = f"C{index % 10}", capacity_label(capacity)
        for ax, name in ((loss_ax, "loss"), (metric_ax, "metric")):
            ax.plot(mean.index, mean[f"train_{name}"], "-", color=color, label=f"{label} train")
            ax.plot(mean.index, mean[f"val_{name}"], "--", color=color, label=f"{label} val")
    loss_ax.set(title=f"{family}: loss", xlabel="epoch", ylabel="loss")
    names = data.fits[data.fits["family"] == family]["metric"].dropna()
    metric = str(names.iloc[0]) if len(names) else "metric"
    metric_ax.set(title=f"{family}: {metric}", xlabel="epoch", ylabel=metric)
    for ax in (loss_ax, metric_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _legend(loss_ax)
    filename = "learning_curves.png"
    _save(figure, out_dir / filename)
    return Plot(
        title, filename, f"Family {family}, clean labels, mean over seeds; dashed: validation."
    )


def _varying_label(family: Family, capacity: str) -> str:
    """The capacity by the knobs that vary within its family only (short enough for a
    heatmap cell): ``filters=16``, not every fixed knob and the input shape."""
    values = [knob_values(c) for c in family.capacities]
    keys = dict.fromkeys(k for v in values for k in v if k != "input")
    varying = [k for k in keys if len({repr(v.get(k)) for v in values}) > 1]
    own = knob_values(capacity)
    return " ".join(f"{k}={format_knob(own[k])}" for k in varying if k in own) or "—"


def xla_speedup_plot(families: list[Family], out_dir: Path) -> Plot:
    """Heatmap of the XLA speedup (time off / time on), families × capacities."""
    title = "XLA speedup"
    table: list[list[tuple[float, str] | None]] = []
    names = []
    for family in families:
        pass_ = family.main_pass
        row = []
        for capacity in family.capacities:
            off = family.value(capacity, pass_, False, "step_s_median") if pass_ else None
            on = family.value(capacity, pass_, True, "step_s_median") if pass_ else None
            if off and on:
                row.append((off / on, _varying_label(family, capacity)))
        if row:
            table.append(row)
            names.append(f"{family.name} ({pass_})")
    if not table:
        return Plot(title, None, "No capacity ran both with and without XLA: no speedup heatmap.")
    width = max(len(row) for row in table)
    values = np.full((len(table), width), np.nan)
    for i, row in enumerate(table):
        for j, (speedup, _) in enumerate(row):
            values[i, j] = speedup
    bound = max(1.25, float(np.nanmax(values)), 1.0 / float(np.nanmin(values)))
    figure = Figure(
        figsize=(max(4.0, 1.6 * width + 2), 0.9 * len(table) + 1.5), layout="constrained"
    )
    ax = figure.subplots()
    ax.set_facecolor("lightgrey")  # capacities a family does not have
    image = ax.imshow(np.ma.masked_invalid(values), cmap="RdBu", norm=LogNorm(1 / bound, bound),
                      aspect="auto")  # fmt: skip
    for i, row in enumerate(table):
        for j, (speedup, label) in enumerate(row):
            dark = abs(math.log(speedup)) > 0.6 * math.log(bound)
            ax.text(j, i, f"{speedup:.2f}x\n{label}", ha="center", va="center", fontsize=7,
                    color="white" if dark else "black")  # fmt: skip
    ax.set_yticks(range(len(names)), names)
    ax.set_xticks(range(width), [f"#{j + 1}" for j in range(width)])
    ax.set_xlabel("capacity (smallest first)")
    bar = figure.colorbar(image, ax=ax, label="speedup (time without XLA / with XLA)")
    ticks = [t for t in (0.25, 0.5, 0.8, 1.0, 1.25, 2.0, 4.0) if 1 / bound <= t <= bound]
    bar.set_ticks(ticks, labels=[f"{t:g}x" for t in ticks])
    bar.ax.minorticks_off()
    filename = "xla_speedup.png"
    _save(figure, out_dir / filename)
    return Plot(title, filename, "Blue: XLA faster; red: XLA slower; grey: not measured.")


def model_wise_plot(data: RunData, out_dir: Path) -> Plot:
    """Test error (final and early-stopped) and train error against params, mean ± std
    over seeds, one panel per family and label-noise condition, the interpolation
    threshold marked."""
    title = "Model-wise error against params"
    results = {item.cell.cell_id: item.result.fit for item in data.stored if item.result.fit}
    table = overfitting.records(data.fits, results) if not data.fits.empty else pd.DataFrame()
    curves = overfitting.curves_of(table)
    curves = {key: curve for key, curve in curves.items() if len(curve.points) >= 2}
    if not curves:
        return Plot(title, None, "No fit sweep with two or more capacities, so no model-wise plot.")
    figure, axes = _grid(len(curves))
    for ax, ((family, condition), curve) in zip(axes, sorted(curves.items()), strict=True):
        params = np.array([p.params for p in curve.points], dtype=float)
        series = (
            ("test error (final epoch)", "final_test", "C3", "-"),
            ("test error (early-stopped)", "early_test", "C0", "--"),
            ("train error (labels trained on)", "train_error", "C2", ":"),
        )
        for label, name, color, style in series:
            values = [np.asarray(getattr(p, name), dtype=float) for p in curve.points]
            mean = np.array([np.nanmean(v) if v.size else np.nan for v in values])
            std = np.array([np.nanstd(v) if v.size else np.nan for v in values])
            ax.plot(params, mean, style, color=color, marker="o", markersize=3, label=label)
            ax.fill_between(params, mean - std, mean + std, color=color, alpha=0.15, lw=0)
        if curve.threshold is not None:
            ax.axvline(curve.threshold, color="0.4", lw=1, ls="-.", label="interpolation threshold")
        _log(ax, y=False)
        ax.set_xlabel("params")
        ax.set_ylabel("error")
        ax.set_ylim(bottom=0)
        ax.set_title(f"{family}, {condition}", fontsize=10)
    axes[0].legend(fontsize=7, loc="upper right")
    _save(figure, out_dir / "model_wise.png")
    note = (
        "Mean ± std over seeds. *Final*: the test error of the last epoch trained (no early "
        "stopping); *early-stopped*: at the best-validation epoch. The dash-dot line is the "
        "interpolation threshold (the smallest capacity whose every seed reached the "
        "stopping rule's train error); none is drawn when no capacity reached it."
    )
    return Plot(title, "model_wise.png", note)


def write_plots(data: RunData, families: list[Family], out_dir: Path) -> list[Plot]:
    """Draw every plot into ``out_dir`` and return them in report order."""
    makers: list[Callable[[], Plot]] = [
        lambda: step_time_plot(families, out_dir),
        lambda: throughput_plot(data, families, out_dir),
        lambda: memory_plot(families, out_dir),
        lambda: model_wise_plot(data, out_dir),
        lambda: gap_plot(data, out_dir),
        lambda: learning_curve_plot(data, out_dir),
        lambda: xla_speedup_plot(families, out_dir),
    ]
    plots = [make() for make in makers]
    for stale in PLOT_FILES - {plot.filename for plot in plots}:
        (out_dir / stale).unlink(missing_ok=True)  # from an earlier report of this run
    return plots
