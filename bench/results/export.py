"""Export a stored run: CSV or JSON rows (cells, fits, curves) or pytest-benchmark JSON.

Pure Python (no TensorFlow).

>>> import io
>>> out = io.StringIO()
>>> write_csv([{"a": 1, "b": None}], ("a", "b"), out)
>>> out.getvalue().splitlines()
['a,b', '1,']
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from bench.results.moments import with_moments
from bench.results.rows import (
    CELL_COLUMNS,
    FIT_COLUMNS,
    cell_row,
    curve_columns,
    curve_rows,
    fit_row,
    peak_flops_by_device,
)
from bench.results.stats import Stats, quartiles
from bench.results.store import Store


def table_rows(store: Store, run_id: str, table: str) -> tuple[list[dict[str, Any]], Sequence[str]]:
    """Rows and column order of one export table of a run."""
    stored, _ = with_moments(store.cells(run_id))
    if table == "cells":
        peaks = peak_flops_by_device(store.probes(run_id))
        return [cell_row(s, peaks) for s in stored], CELL_COLUMNS
    if table == "fits":
        return [r for r in (fit_row(s) for s in stored) if r is not None], FIT_COLUMNS
    if table == "curves":
        rows = [row for s in stored for row in curve_rows(s)]
        return rows, curve_columns(rows)
    raise ValueError(f"unknown table {table!r}; expected one of cells, fits, curves")


def write_csv(rows: Iterable[dict[str, Any]], columns: Sequence[str], out: TextIO) -> None:
    writer = csv.DictWriter(
        out, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})


def write_json(rows: list[dict[str, Any]], out: TextIO) -> None:
    """Strict JSON: non-finite numbers (a diverged fit's NaN loss) become ``null``."""
    json.dump(_finite(rows), out, indent=1, sort_keys=False, default=str, allow_nan=False)
    out.write("\n")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def pytest_benchmark_json(store: Store, run_id: str) -> dict[str, Any]:
    """The run's timing cells in pytest-benchmark's saved-run format, so
    ``pytest-benchmark compare`` reads them. One benchmark per ok timing cell; its data
    are the per-step seconds of each sample (pytest-benchmark's "rounds")."""
    run = store.run(run_id)
    env = run.env
    benchmarks = []
    for stored in store.cells(run.run_id):
        timing = stored.result.timing
        if stored.result.status != "ok" or timing is None or not timing.samples_s:
            continue
        cell = stored.cell
        data = list(timing.samples_s)
        stats = Stats.from_samples(data)
        q1, q3 = quartiles(data)
        low, high = q1 - 1.5 * stats.iqr, q3 + 1.5 * stats.iqr
        iqr_outliers = sum(1 for v in data if v < low or v > high)
        stddev_outliers = sum(1 for v in data if abs(v - stats.mean) > stats.stddev)
        benchmarks.append(
            {
                "group": f"{cell.block} {cell.pass_}",
                "name": f"test_cell[{cell.label}]",
                "fullname": f"blockbench::{cell.cell_id}[{cell.label}]",
                "params": {"cell": cell.label},
                "param": cell.label,
                "extra_info": {
                    "cell_id": cell.cell_id,
                    "steps_per_sample": timing.steps_per_sample,
                    "compile_s": timing.compile_s,
                    "params": timing.params,
                    "flops_per_step": timing.flops_per_step,
                },
                "options": {
                    "disable_gc": False,
                    "timer": "perf_counter",
                    "min_rounds": len(data),
                    "max_time": 0,
                    "min_time": 0,
                    "warmup": bool(timing.warmup_s),
                },
                "stats": {
                    "min": stats.min,
                    "max": stats.max,
                    "mean": stats.mean,
                    "stddev": stats.stddev,
                    "rounds": stats.count,
                    "median": stats.median,
                    "iqr": stats.iqr,
                    "q1": q1,
                    "q3": q3,
                    "iqr_outliers": iqr_outliers,
                    "stddev_outliers": stddev_outliers,
                    "outliers": f"{stddev_outliers};{iqr_outliers}",
                    "ld15iqr": min(v for v in data if v >= low),
                    "hd15iqr": max(v for v in data if v <= high),
                    "ops": 1.0 / stats.mean,
                    "total": sum(data),
                    "data": data,
                    "iterations": timing.steps_per_sample,
                },
            }
        )
    created = dt.datetime.fromtimestamp(run.created_at, tz=dt.timezone.utc)
    return {
        "machine_info": {
            "node": env.get("hostname", ""),
            "processor": env.get("cpu_model", ""),
            "machine": env.get("machine", ""),
            "python_compiler": env.get("python_compiler", ""),
            "python_implementation": env.get("python_implementation", ""),
            "python_implementation_version": env.get("python", ""),
            "python_version": env.get("python", ""),
            "python_build": [],
            "release": env.get("os", ""),
            "system": env.get("os", "").split(" ")[0],
            "cpu": {"brand_raw": env.get("cpu_model", ""), "count": env.get("cores", 0)},
            "blockbench": {k: v for k, v in env.items()},
        },
        "commit_info": {
            "id": env.get("git_commit") or "unknown",
            "time": created.isoformat(),
            "author_time": created.isoformat(),
            "dirty": bool(env.get("git_dirty")),
            "project": "blockbench",
            "branch": "unknown",
        },
        "benchmarks": benchmarks,
        "datetime": created.isoformat(),
        "version": "4.0.0",
    }
