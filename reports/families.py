"""One block family of a run, its capacities in order and the batch size the report uses.

The report compares capacities at one batch size per family: the largest batch size that
was measured (status ``ok``) for every capacity; failing that, the batch size with the most
capacities measured (largest on a tie). Other batch sizes only feed the throughput plot.

>>> choose_batch_size({16: {"a", "b"}, 64: {"a", "b"}, 256: {"a"}}, {"a", "b"})
(64, 'the largest batch size measured for every capacity')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from bench.spec.cell import TIMING_PASSES
from reports.frames import RunData, capacity_sort_key, knob_values


@dataclass(frozen=True)
class Family:
    """The timing cells and fit rows of one family, with lookups by capacity.

    ``cells`` maps ``(capacity, pass, xla, batch_size)`` to a flat cell row.
    """

    name: str
    knob_names: tuple[str, ...]
    capacities: tuple[str, ...]
    batch_size: int | None
    batch_sizes: tuple[int, ...]
    batch_reason: str
    cells: dict[tuple[str, str, bool, int], dict[str, Any]]
    fits: pd.DataFrame

    def cell(
        self, capacity: str, pass_: str, xla: bool, *, batch_size: int | None = None
    ) -> dict[str, Any] | None:
        """The row of one timing cell (at the family's batch size unless given)."""
        batch = self.batch_size if batch_size is None else batch_size
        return self.cells.get((capacity, pass_, xla, batch)) if batch is not None else None

    def value(self, capacity: str, pass_: str, xla: bool, column: str) -> Any:
        """One column of one timing cell at the family's batch size, ``None`` if absent."""
        row = self.cell(capacity, pass_, xla)
        return None if row is None else _clean(row.get(column))

    def params(self, capacity: str) -> int | None:
        """Parameter count from any timing cell of the capacity, else from its fit rows.

        A fit cell's model can differ from the timing cell's (its own classification head),
        so tables of fit rows read each fit row's own ``params`` instead.
        """
        for (cap, *_), row in self.cells.items():
            if cap == capacity and _clean(row.get("params")) is not None:
                return int(row["params"])
        rows = self.fits[self.fits["capacity"] == capacity]["params"].dropna()
        return int(rows.iloc[0]) if len(rows) else None

    def flops(self, capacity: str) -> int | None:
        """Forward FLOPs per example from any timing cell of the capacity."""
        for (cap, *_), row in self.cells.items():
            if cap == capacity and _clean(row.get("flops")) is not None:
                return int(row["flops"])
        return None

    @property
    def timing_capacities(self) -> tuple[str, ...]:
        """Capacities with a timing cell (any status) at the family's batch size."""
        present = {key[0] for key in self.cells if key[3] == self.batch_size}
        return tuple(c for c in self.capacities if c in present)

    @property
    def timing_passes(self) -> tuple[str, ...]:
        """The timing passes measured in this family, forward first."""
        present = {key[1] for key in self.cells}
        return tuple(p for p in TIMING_PASSES if p in present)

    @property
    def default_xla(self) -> bool:
        """The compilation setting single-number tables use: off where measured (each
        backend's default), else on (a jax family is timed under jax.jit only)."""
        measured_off = any(
            key[2] is False and _clean(row.get("step_s_median")) is not None
            for key, row in self.cells.items()
        )
        return not measured_off and any(key[2] is True for key in self.cells)

    @property
    def backend(self) -> str:
        """The Keras backend of the family's cells (one per family)."""
        for row in self.cells.values():
            if row.get("backend"):
                return str(row["backend"])
        return "tensorflow"

    @property
    def main_pass(self) -> str | None:
        """The pass that throughput, memory and the summary use: train, else forward."""
        passes = self.timing_passes
        return "train" if "train" in passes else (passes[0] if passes else None)


def families(data: RunData) -> list[Family]:
    """Every family of a run with at least one ``ok`` cell, sorted by name.

    >>> import tempfile, os
    >>> from bench.results.store import Store
    >>> store = Store(os.path.join(tempfile.mkdtemp(), "s.sqlite"))
    >>> store.create_run("r1", name="n", config_hash="h", config={}, env={}, total_cells=0)
    >>> from reports.frames import load_run
    >>> families(load_run(store, "r1"))
    []
    """
    timing = data.cells[data.cells["pass"].isin(TIMING_PASSES)]
    ok = data.cells[data.cells["status"] == "ok"]
    names = sorted(set(ok["family"]))  # a family without any result is only a problem
    return [_family(name, timing[timing["family"] == name], data.fits) for name in names]


def _family(name: str, timing: pd.DataFrame, all_fits: pd.DataFrame) -> Family:
    fits = all_fits[all_fits["family"] == name]
    ok = timing[(timing["status"] == "ok") & timing["step_s_median"].notna()]
    measured = {int(batch): set(group["capacity"]) for batch, group in ok.groupby("batch_size")}
    if measured:
        batch, reason = choose_batch_size(measured, set(ok["capacity"]))
    elif len(timing):
        batch, reason = int(timing["batch_size"].max()), "no timing cell succeeded"
    else:
        batch, reason = None, "no timing cells"
    cells = {
        (row["capacity"], row["pass"], bool(row["xla"]), int(row["batch_size"])): row
        for row in timing.to_dict("records")
    }
    at_batch = set(timing[timing["batch_size"] == batch]["capacity"]) if batch else set()
    capacities = sorted(at_batch | set(fits["capacity"]), key=capacity_sort_key)
    knob_names: list[str] = []
    for capacity in capacities:
        knob_names += [k for k in knob_values(capacity) if k not in knob_names]
    return Family(
        name=name,
        knob_names=tuple(knob_names),
        capacities=tuple(capacities),
        batch_size=batch,
        batch_sizes=tuple(sorted(int(b) for b in set(timing["batch_size"]))),
        batch_reason=reason,
        cells=cells,
        fits=fits,
    )


def choose_batch_size(measured: dict[int, set[str]], capacities: set[str]) -> tuple[int, str]:
    """The batch size to compare capacities at, and why it was chosen."""
    common = [batch for batch, caps in measured.items() if caps >= capacities]
    if common:
        return max(common), "the largest batch size measured for every capacity"
    best = max(measured, key=lambda batch: (len(measured[batch]), batch))
    return best, "the batch size with the most capacities measured"


def _clean(value: Any) -> Any:
    """``None`` for NaN (pandas fills missing numbers with NaN)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
