"""Flat rows (one dict per cell, per fit seed, per epoch) derived from stored results.

These rows are the one shape that exports (CSV, JSON) and reports consume. Pure Python:
no TensorFlow. Train steps count as 3x forward FLOPs (forward + two backward matmuls).

>>> from bench.spec.cell import Cell
>>> from bench.results.records import CellResult
>>> from bench.results.store import StoredCell
>>> cell = Cell("dense", (("units", 8),), (4,), 2, "train")
>>> row = cell_row(StoredCell("r1", cell, CellResult("skipped", reason="no GPU"), 0.0), {})
>>> row["status"], row["reason"], row["step_s_median"]
('skipped', 'no GPU', None)
"""

from __future__ import annotations

import json
from typing import Any

from bench.results.stats import RoundStats, Stats
from bench.results.store import StoredCell

TRAIN_FLOP_FACTOR = 3  # a train step ~ forward + backward (2x forward)

CELL_COLUMNS = (
    "run_id", "cell_id", "group_id", "label", "block", "knobs", "input_shape", "batch_size",
    "pass", "device", "xla", "dtype_policy", "backend", "status", "reason", "params",
    "params_trainable",
    "flops", "flops_per_step", "build_s", "compile_s", "steps_per_sample", "num_samples",
    "step_s_median", "step_s_iqr", "step_s_min", "step_s_max", "step_s_mean", "step_s_std",
    "noisy", "samples_s", "rounds", "step_s_ci_low", "step_s_ci_high", "step_s_ci_rel",
    "spread_within", "spread_between", "round_medians_s", "round_pids", "moment_adjusted",
    "step_s_median_raw", "step_s_ci_rel_raw", "samples_per_s",
    "gflops_per_s", "peak_flops", "pct_of_peak",
    "fit_step_s", "xla_max_abs_diff", "xla_fallback", "tf32", "peak_bytes", "peak_bytes_estimate",
    "peak_ratio", "rss_peak_bytes", "allocator", "profile_path", "profile_peak_bytes", "top_ops",
    "warnings", "wall_s",
)  # fmt: skip

FIT_COLUMNS = (
    "run_id", "cell_id", "group_id", "label", "block", "knobs", "input_shape", "device", "xla",
    "dtype_policy", "dataset", "seed", "label_noise", "random_labels", "batch_size", "epochs",
    "learning_rate", "patience", "status", "reason", "params",
    "metric", "epochs_run", "final_val_metric", "best_val_metric", "best_epoch", "test_metric",
    "gap_end", "gap_best", "onset_epoch", "memorisation", "diverged_epoch", "fit_wall_s",
    "train_size", "until", "epsilon", "stopped", "interpolation_epoch", "final_test_error",
    "best_test_error", "final_train_error", "final_train_error_clean", "final_val_error",
)  # fmt: skip

# The fixed columns of a curve row; every metric a fit recorded follows as a column.
CURVE_COLUMNS = (
    "run_id", "cell_id", "group_id", "block", "knobs", "dataset", "seed", "label_noise",
    "random_labels", "learning_rate", "params", "epoch",
)  # fmt: skip


def _base(stored: StoredCell) -> dict[str, Any]:
    cell = stored.cell
    identity = cell.identity()
    return {
        "run_id": stored.run_id,
        "cell_id": cell.cell_id,
        "group_id": cell.group_id,
        "label": cell.label,
        "block": cell.block,
        "knobs": json.dumps(identity["knobs"], sort_keys=True),
        "input_shape": json.dumps(identity["input_shape"]),
        "batch_size": cell.batch_size,
        "pass": cell.pass_,
        "device": cell.device,
        "xla": cell.xla,
        "dtype_policy": cell.dtype_policy,
        "backend": cell.backend,
        "status": stored.result.status,
        "reason": stored.result.reason,
    }


def cell_row(stored: StoredCell, peak_flops: dict[str, float | None]) -> dict[str, Any]:
    """One flat row for a timing (or any) cell. ``peak_flops`` maps device to FLOP/s."""
    row = dict.fromkeys(CELL_COLUMNS)
    row.update(_base(stored))
    result = stored.result
    row["warnings"] = json.dumps(list(result.warnings))
    row["wall_s"] = result.wall_s
    timing = result.timing
    if timing is None:
        if result.fit is not None:
            row["params"] = result.fit.params
        return row
    row.update(
        params=timing.params,
        params_trainable=timing.params_trainable,
        flops=timing.flops,
        flops_per_step=timing.flops_per_step,
        build_s=timing.build_s,
        compile_s=timing.compile_s,
        steps_per_sample=timing.steps_per_sample,
        fit_step_s=timing.fit_step_s,
        xla_max_abs_diff=timing.xla_max_abs_diff,
        xla_fallback=timing.xla_fallback,
        tf32=timing.tf32,
    )
    if timing.samples_s:
        stats = Stats.from_samples(timing.samples_s)  # the raw samples, pooled
        rounds = RoundStats.from_rounds(timing.stat_samples)
        raw = RoundStats.from_rounds(timing.round_samples) if timing.adjusted_samples else rounds
        row.update(
            num_samples=stats.count,
            step_s_median=rounds.median,
            step_s_iqr=stats.iqr,
            step_s_min=stats.min,
            step_s_max=stats.max,
            step_s_mean=stats.mean,
            step_s_std=stats.stddev,
            noisy=rounds.noisy,
            samples_s=json.dumps(list(timing.samples_s)),
            rounds=rounds.rounds,
            step_s_ci_low=rounds.ci_low,
            step_s_ci_high=rounds.ci_high,
            step_s_ci_rel=rounds.relative_ci,
            spread_within=rounds.within,
            spread_between=rounds.between,
            round_medians_s=json.dumps(list(rounds.round_medians)),
            round_pids=json.dumps([r.pid for r in timing.ok_rounds]),
            moment_adjusted=bool(timing.adjusted_samples),
            step_s_median_raw=raw.median,
            step_s_ci_rel_raw=raw.relative_ci,
            samples_per_s=stored.cell.batch_size / rounds.median,
            gflops_per_s=timing.flops_per_step / rounds.median / 1e9,
        )
        peak = peak_flops.get(stored.cell.device)
        row["peak_flops"] = peak
        if peak:
            row["pct_of_peak"] = 100.0 * timing.flops_per_step / rounds.median / peak
    if timing.memory is not None:
        memory = timing.memory
        row.update(
            peak_bytes=memory.peak_bytes,
            peak_bytes_estimate=memory.peak_bytes_estimate,
            peak_ratio=memory.ratio,
            rss_peak_bytes=memory.rss_peak_bytes,
            allocator=memory.allocator,
        )
    if timing.profile is not None:
        row.update(
            profile_path=timing.profile.profile_path,
            profile_peak_bytes=timing.profile.profile_peak_bytes,
            top_ops=json.dumps(list(timing.profile.top_ops)),
        )
    return row


def fit_row(stored: StoredCell) -> dict[str, Any] | None:
    """One flat row per fit cell and seed, or None for a timing cell."""
    settings = stored.cell.fit
    if settings is None:
        return None
    row = dict.fromkeys(FIT_COLUMNS)
    row.update({k: v for k, v in _base(stored).items() if k in FIT_COLUMNS})
    row.update(
        dataset=settings.dataset,
        seed=settings.seed,
        label_noise=settings.label_noise,
        random_labels=settings.random_labels,
        epochs=settings.epochs,
        learning_rate=settings.learning_rate,
        patience=settings.patience,
        until=settings.until,
        epsilon=settings.epsilon,
    )
    fit = stored.result.fit
    if fit is not None:
        row.update({k: v for k, v in vars(fit).items() if k in FIT_COLUMNS})
    return row


def curve_rows(stored: StoredCell) -> list[dict[str, Any]]:
    """One row per evaluated epoch of a fit cell's curves (empty for timing cells), with
    a column per recorded metric. Curves list their epochs under ``"epoch"``; older
    results, which have none, were evaluated every epoch."""
    fit, settings = stored.result.fit, stored.cell.fit
    if fit is None or settings is None:
        return []
    base = _base(stored)
    curves = dict(fit.curves)
    epochs = curves.pop("epoch", None) or list(range(1, fit.epochs_run + 1))
    rows = []
    for index, epoch in enumerate(epochs):
        row = {k: base.get(k) for k in ("run_id", "cell_id", "group_id", "block", "knobs")}
        row.update(
            dataset=settings.dataset,
            seed=settings.seed,
            label_noise=settings.label_noise,
            random_labels=settings.random_labels,
            learning_rate=settings.learning_rate,
            params=fit.params,
            epoch=epoch,
        )
        for name, values in curves.items():
            row[name] = values[index] if index < len(values) else None
        rows.append(row)
    return rows


def curve_columns(rows: list[dict[str, Any]]) -> tuple[str, ...]:
    """The fixed curve columns, then every metric column in the order first seen.

    >>> curve_columns([{"epoch": 1, "val_loss": 0.5}, {"epoch": 2, "test_error": 0.1}])[-3:]
    ('epoch', 'val_loss', 'test_error')
    """
    extra = dict.fromkeys(k for row in rows for k in row if k not in CURVE_COLUMNS)
    return (*CURVE_COLUMNS, *extra)


def peak_flops_by_device(probes: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """Map device -> measured peak FLOP/s from a run's probe records."""
    return {device: probe.get("peak_flops") for device, probe in probes.items()}
