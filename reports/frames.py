"""A run read from the store as pandas frames, with the columns the report groups by.

Everything comes from the flat rows of :mod:`bench.results.rows`; three columns are added:
``family`` (the block, plus backend, device or dtype where results need telling apart),
``capacity`` (the knobs as canonical JSON, plus the input shape when a family has several)
and, for fit rows, ``condition`` (dataset and label noise).

>>> capacity_label('{"depth": 2, "filters": 32}')
'depth=2 filters=32'
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.results.moments import NONE, MomentModel, with_moments
from bench.results.rows import (
    CELL_COLUMNS,
    FIT_COLUMNS,
    cell_row,
    curve_columns,
    curve_rows,
    fit_row,
    peak_flops_by_device,
)
from bench.results.store import RunInfo, Store, StoredCell
from bench.results.time_budget import TimeBudget, time_budget
from bench.spec.reference import is_reference

SHAPE_SEPARATOR = " @ "  # between knobs JSON and input shape in a capacity key


@dataclass(frozen=True)
class RunData:
    """One run: its info, probes, stored cells and the derived frames."""

    run: RunInfo
    probes: dict[str, dict[str, Any]]
    stored: tuple[StoredCell, ...]
    cells: pd.DataFrame
    fits: pd.DataFrame
    curves: pd.DataFrame
    canaries: tuple[dict[str, Any], ...] = ()  # the canary and machine readings, in order
    moments: MomentModel = NONE  # the machine's speed at each sample's moment
    references: tuple[StoredCell, ...] = ()  # the reference workload's cells (not in cells)
    budget: TimeBudget | None = None  # where the run's wall time went


def open_store(store: Store | str | Path) -> Store:
    """A :class:`Store` as given, or opened from the path of an existing store file.

    >>> open_store("/nonexistent/blockbench.sqlite")
    Traceback (most recent call last):
    ...
    bench.results.store.StoreError: no results store at /nonexistent/blockbench.sqlite
    """
    return store if isinstance(store, Store) else Store(store, create=False)


def load_run(store: Store, run_id: str) -> RunData:
    """Read one run (a unique id prefix works) into frames.

    >>> import tempfile, os
    >>> store = Store(os.path.join(tempfile.mkdtemp(), "s.sqlite"))
    >>> store.create_run("r1", name="n", config_hash="h", config={}, env={}, total_cells=0)
    >>> load_run(store, "r1").cells.empty
    True
    """
    run = store.run(run_id)
    probes = store.probes(run.run_id)
    adjusted, moments = with_moments(store.cells(run.run_id))  # the reference takes part
    stored = tuple(item for item in adjusted if not is_reference(item.cell))
    peaks = peak_flops_by_device(probes)
    family = _family_namer(stored)
    shapes_by_block: dict[str, set[str]] = {}
    for item in stored:
        key = family(item)
        shapes_by_block.setdefault(key, set()).add(json.dumps(list(item.cell.input_shape)))
    multi_shape = {key for key, shapes in shapes_by_block.items() if len(shapes) > 1}

    def extras(item: StoredCell) -> dict[str, str]:
        key = family(item)
        knobs = json.dumps(item.cell.identity()["knobs"], sort_keys=True)
        if key in multi_shape:
            knobs += SHAPE_SEPARATOR + "x".join(str(d) for d in item.cell.input_shape)
        return {"family": key, "capacity": knobs}

    cell_records, fit_records, curve_records = [], [], []
    conditions = _condition_namer(stored)
    for item in stored:
        extra = extras(item)
        cell_records.append({**cell_row(item, peaks), **extra})
        fit = fit_row(item)
        if fit is not None:
            fit.update(extra, condition=conditions(item), final_train_metric=_last_train(item))
            fit_records.append(fit)
        for curve in curve_rows(item):
            curve_records.append({**curve, **extra, "condition": conditions(item)})
    extra_columns = ["family", "capacity"]
    added = (*extra_columns, "condition")
    fit_extra = [*extra_columns, "condition", "final_train_metric"]
    return RunData(
        run=run,
        probes=probes,
        stored=stored,
        cells=pd.DataFrame(cell_records, columns=[*CELL_COLUMNS, *extra_columns]),
        fits=pd.DataFrame(fit_records, columns=[*FIT_COLUMNS, *fit_extra]),
        canaries=tuple(store.canaries(run.run_id)),
        moments=moments,
        references=tuple(item for item in adjusted if is_reference(item.cell)),
        budget=time_budget(run, adjusted),
        curves=pd.DataFrame(
            curve_records,
            columns=[
                *(c for c in curve_columns(curve_records) if c not in added),
                *extra_columns,
                "condition",
            ],
        ),
    )


def _family_namer(stored: tuple[StoredCell, ...]) -> Callable[[StoredCell], str]:
    """Name families by block; add backend, device or dtype where the results need it.

    A host is named when timing cells ran on more than one machine (a Ray run with
    ``--whole-node``). A backend, device (or dtype) is named when results exist for more
    than one, or for a cell on one without any results (a skipped GPU cell is
    ``dense (gpu)``, not mixed into the ``dense`` of the CPU results). A backend other
    than TensorFlow is always named.
    """
    ok = [item.cell for item in stored if item.result.status == "ok"]
    devices = {cell.device for cell in ok}
    dtypes = {cell.dtype_policy for cell in ok}
    backends = {cell.backend for cell in ok}
    hosts = {_host(item) for item in stored if item.result.status == "ok"} - {""}

    def name(item: StoredCell) -> str:
        parts = []
        if len(hosts) > 1 and _host(item):  # never mix machines in one family's tables
            parts.append(_host(item))
        backend = item.cell.backend
        if len(backends) > 1 or backend != "tensorflow" or backend not in backends:
            parts.append(backend)
        if len(devices) > 1 or item.cell.device not in devices:
            parts.append(item.cell.device)
        if len(dtypes) > 1 or item.cell.dtype_policy not in dtypes:
            parts.append(item.cell.dtype_policy)
        return f"{item.cell.block} ({', '.join(parts)})" if parts else item.cell.block

    return name


def _host(item: StoredCell) -> str:
    """The machine a timing cell's rounds ran on ('' when not recorded)."""
    timing = item.result.timing
    hosts = {r.host for r in timing.rounds} if timing else set()
    return next(iter(hosts)) if len(hosts) == 1 else ""


def _condition_namer(stored: tuple[StoredCell, ...]) -> Callable[[StoredCell], str]:
    settings = [item.cell.fit for item in stored if item.cell.fit is not None]
    several_lr = len({s.learning_rate for s in settings}) > 1
    several_epochs = len({s.epochs for s in settings}) > 1

    def name(item: StoredCell) -> str:
        fit = item.cell.fit
        if fit is None:
            return ""
        parts = [fit.dataset]
        if fit.random_labels:
            parts.append("random labels")
        elif fit.label_noise:
            parts.append(f"label noise {fit.label_noise:g}")
        if several_lr:
            parts.append(f"lr {fit.learning_rate:g}")
        if several_epochs:
            parts.append(f"{fit.epochs} epochs")
        return ", ".join(parts)

    return name


def _last_train(item: StoredCell) -> float | None:
    fit = item.result.fit
    if fit is None:
        return None
    """Final-epoch train accuracy on the labels trained on (inference mode); results
    from before ``final_train_error`` fall back to their ``train_metric`` curve."""
    if getattr(fit, "final_train_error", None) is not None:
        return 1.0 - float(fit.final_train_error)
    errors = [v for v in fit.curves.get("train_error_noisy") or [] if v is not None]
    if errors:
        return 1.0 - float(errors[-1])
    values = [v for v in fit.curves.get("train_metric") or [] if v is not None]
    return float(values[-1]) if values else None


def is_true(values: pd.Series) -> pd.Series:
    """Element-wise ``value is True`` (missing counts as False), without pandas downcasts.

    >>> is_true(pd.Series([True, None, False])).tolist()
    [True, False, False]
    """
    return values.map(lambda value: value is True or value is np.True_).astype(bool)


def is_default_condition(rows: pd.DataFrame) -> pd.Series:
    """Fit or curve rows trained on clean labels (no label noise, no random labels)."""
    noise = pd.to_numeric(rows["label_noise"], errors="coerce")
    return ((noise == 0) | noise.isna()) & ~is_true(rows["random_labels"])


def knob_values(capacity: str) -> dict[str, Any]:
    """The knob dict of a capacity key (input shape, if present, under ``input``).

    >>> knob_values('{"units": 32} @ 28x28')
    {'units': 32, 'input': [28, 28]}
    """
    knobs, _, shape = capacity.partition(SHAPE_SEPARATOR)
    values = json.loads(knobs)
    if shape:
        values["input"] = [int(size) for size in shape.split("x")]
    return values


def format_knob(value: Any) -> str:
    """A knob value for a table cell: lists joined by ``x``.

    >>> format_knob([3, 3]), format_knob(32), format_knob("relu")
    ('3x3', '32', 'relu')
    """
    if isinstance(value, (list, tuple)):
        return "x".join(format_knob(v) for v in value)
    return str(value)


def capacity_label(capacity: str) -> str:
    """A short readable capacity name."""
    return " ".join(f"{k}={format_knob(v)}" for k, v in knob_values(capacity).items())


def capacity_sort_key(capacity: str) -> tuple:
    """Order capacities by their knob values, numerically where the values are numbers.

    >>> sorted(['{"units": 128}', '{"units": 16}'], key=capacity_sort_key)
    ['{"units": 16}', '{"units": 128}']
    """
    return tuple((name, _value_key(value)) for name, value in knob_values(capacity).items())


def _value_key(value: Any) -> tuple:
    if isinstance(value, (list, tuple)):
        return (1, tuple(_value_key(v) for v in value))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, float(value))
    return (2, str(value))
