"""The same cells on different Keras backends: step-time ratios with `compare`'s rules.

Every timed cell of a backend other than TensorFlow is matched with the TensorFlow cell
of the same block, knobs, input shape, batch, pass, device and dtype, twice: with the
same ``xla`` setting (compiled against compiled: jax.jit against TensorFlow XLA) and
with TensorFlow's default (graph mode, XLA off). The ratio is backend / TensorFlow step
time, and its verdict is `reports.significance.compare_measurements` on the two cells'
rounds (Welch's test on round medians, a 10% threshold, p < 0.002): the same rule
``blockbench compare`` applies to two runs, so a backend is "faster" only when its
rounds say so beyond the rounds' own spread.

>>> backend_section(())
''
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from bench.results.stats import RoundStats
from bench.results.store import StoredCell
from bench.spec.backends import DEFAULT_BACKEND, compile_mode
from bench.spec.cell import TIMING_PASSES, Cell
from reports.frames import capacity_label
from reports.markdown import table
from reports.significance import SampleComparison, compare_measurements
from reports.units import format_ratio, format_seconds

THRESHOLD = 0.10
ALPHA = 0.002


def _key(cell: Cell, xla: bool) -> tuple:
    identity = cell.identity()
    return (cell.block, json.dumps(identity["knobs"], sort_keys=True), cell.input_shape,
            cell.batch_size, cell.pass_, cell.device, cell.dtype_policy, xla)  # fmt: skip


def _rounds(item: StoredCell) -> tuple[tuple[float, ...], ...]:
    timing = item.result.timing
    # both backends' cells were measured in one run: compared at its typical speed
    return timing.stat_samples if item.result.status == "ok" and timing else ()


def _median(item: StoredCell) -> float:
    return RoundStats.from_rounds(_rounds(item)).median


def backend_section(stored: Sequence[StoredCell]) -> str:
    """A table per block and backend (other than TensorFlow); '' with one backend."""
    timed = [s for s in stored if s.cell.pass_ in TIMING_PASSES and _rounds(s)]
    reference = {_key(s.cell, s.cell.xla): s for s in timed if s.cell.backend == DEFAULT_BACKEND}
    others = sorted({s.cell.backend for s in timed} - {DEFAULT_BACKEND})
    if not reference or not others:
        return ""
    parts = [
        "Step time of the same cell on each backend, as a ratio to TensorFlow (below 1: the "
        "backend is faster). *Same mode* pairs the backend's compiled step with TensorFlow "
        "XLA (or its uncompiled step with TensorFlow's graph); *vs TF graph* pairs it with "
        "TensorFlow's default, graph mode without XLA. Verdicts use `blockbench compare`'s "
        f"rule: beyond {THRESHOLD:.0%} and Welch's test on the rounds' medians at "
        f"p < {ALPHA:g}; a ratio beyond the threshold that the rounds do not confirm is "
        "*inconclusive*."
    ]
    for backend in others:
        for block in sorted({s.cell.block for s in timed if s.cell.backend == backend}):
            rows = _rows([s for s in timed if s.cell.backend == backend and s.cell.block == block],
                         reference)  # fmt: skip
            if rows:
                headers = ["capacity", "batch", "pass", backend, "TF same mode", "ratio",
                           "verdict", "TF graph", "vs TF graph", "verdict "]  # fmt: skip
                parts += [f"**{block}: {backend} / tensorflow**", table(headers, rows)]
    return "\n\n".join(parts) if len(parts) > 1 else ""


def _rows(cells: list[StoredCell], reference: dict[tuple, StoredCell]) -> list[list[str]]:
    rows = []
    for item in sorted(cells, key=lambda s: (s.result.timing.params, s.cell.batch_size,
                                            s.cell.pass_, s.cell.xla)):  # fmt: skip
        cell = item.cell
        same = reference.get(_key(cell, cell.xla))
        graph = reference.get(_key(cell, False)) if cell.xla else None
        if same is None and graph is None:
            continue
        knobs = capacity_label(json.dumps(cell.identity()["knobs"], sort_keys=True))
        row = [knobs, str(cell.batch_size), cell.pass_,
               f"{format_seconds(_median(item))} "
               f"({compile_mode(cell.backend, cell.xla)})"]  # fmt: skip
        for other in (same, graph):
            if other is None:
                row += ["—", "—", "—"]
                continue
            result = compare(other, item)
            row += [format_seconds(_median(other)), _ratio(result),
                    result.verdict]  # fmt: skip
        rows.append(row)
    return rows


def compare(tensorflow: StoredCell, other: StoredCell) -> SampleComparison:
    """The verdict on ``other``'s step time against the TensorFlow cell's."""
    return compare_measurements(_rounds(tensorflow), _rounds(other), threshold=THRESHOLD,
                                alpha=ALPHA)  # fmt: skip


def _ratio(result: SampleComparison) -> str:
    return (f"{format_ratio(result.ratio)} ({format_ratio(result.ratio_low)}–"
            f"{format_ratio(result.ratio_high)})")  # fmt: skip
