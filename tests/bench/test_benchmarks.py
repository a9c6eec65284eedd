"""blockbench cells through pytest-benchmark's fixture, so that
``pytest tests/bench/test_benchmarks.py --benchmark-autosave`` and ``--benchmark-compare``
work on blockbench cells. Each round is one traced call of K steps (K calibrated once);
``extra_info`` carries K and the per-step median, the number blockbench reports.

pytest-benchmark measures wall time only and disables itself under xdist.
"""

import math

import pytest

from bench.measure.model import build_model
from bench.measure.rounds import calibrate
from bench.measure.timing import make_program
from bench.spec.cell import Cell
from bench.worker.execute import _batches

CELLS = [
    Cell("dense", (("units", 64),), (64,), 32, "train"),
    Cell("conv", (("filters", 8),), (16, 16, 1), 16, "forward"),
]


@pytest.mark.parametrize("cell", CELLS, ids=lambda cell: cell.label)
def test_cell(benchmark, cell):
    model = build_model(cell, fixed_batch=True)
    x, y = _batches(cell, seed=0)
    program = make_program(model, x, y, pass_=cell.pass_, xla=cell.xla)
    program.run(1)  # trace and compile outside the measurement
    steps = calibrate(program.run, 0.02, 100_000)
    benchmark.group = f"{cell.block} {cell.pass_}"
    benchmark.extra_info.update(cell_id=cell.cell_id, steps_per_call=steps)
    value = benchmark.pedantic(program.run, args=(steps,), rounds=5, warmup_rounds=1)
    # the host value is the sum over the K steps: of losses (cross-entropy, so > 0) when
    # training, of outputs when not; NaN or infinity means the model or loop is broken
    assert math.isfinite(value)
    if cell.pass_ == "train":
        assert value > 0
    stats = benchmark.stats.stats
    benchmark.extra_info["step_s_median"] = stats.median / steps
    assert stats.rounds == 5 and stats.median > 0
