"""Where does a step time's run-to-run variance come from on this machine: the model
instance (its buffers, its traced program) or the moment it is measured at?

For a few cells, in one process: build 4 fresh instances of the same model (same seed,
same data), calibrate K once, then take 8 sweeps, each sweep timing one K-step sample of
every instance in turn. On the logs of the 8 x 4 grid of per-step times:
- the *instance effect* is the spread of the instances' means (what a fresh build or a
  fresh process changes);
- the *time effect* is the spread of the sweeps' means (what the moment changes: all
  instances measured within a fraction of a second of each other move together);
- the residual is what is left.
Run it in several processes to see the process effect too (compare the instance means
across runs). Measured here (2-vCPU VM, TF 2.21, two processes, sd of log step time):
time effect 0.05-0.21, instance effect 0.01-0.06, residual 0.05-0.13. The moment
dominates, so precision needs many moments per cell (samples interleaved across cells),
not more processes; see the closing note of issue 9.

Run: python benchmarks/noise_sources.py   (about a minute; run it alone)
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from tabulate import tabulate  # noqa: E402

from bench.measure.model import build_model  # noqa: E402
from bench.measure.rounds import calibrate  # noqa: E402
from bench.measure.timing import make_program  # noqa: E402
from bench.spec.cell import Cell  # noqa: E402

INSTANCES = 4
SWEEPS = 8
CELLS = (
    Cell("dense", (("units", 128),), (64,), 32, "train"),
    Cell("conv", (("depth", 2), ("filters", 16)), (28, 28, 1), 32, "train"),
    Cell("dense", (("units", 1024),), (64,), 32, "forward"),
)


def decompose(cell: Cell) -> dict:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, cell.batch_size, *cell.input_shape)).astype(np.float32)
    y = rng.integers(0, 10, size=(2, cell.batch_size)).astype(np.int32)
    programs = []
    for _ in range(INSTANCES):
        keras.utils.set_random_seed(0)
        program = make_program(build_model(cell, fixed_batch=True), x, y, pass_=cell.pass_,
                               xla=False)  # fmt: skip
        program.run(1)
        programs.append(program)
    steps = calibrate(programs[0].run, 0.05, 100_000)
    for program in programs:
        program.run(steps)  # warm-up
    grid = np.zeros((SWEEPS, INSTANCES))
    for sweep in range(SWEEPS):
        for index, program in enumerate(programs):
            start = time.perf_counter()
            program.run(steps)
            grid[sweep, index] = (time.perf_counter() - start) / steps
    logs = np.log(grid)
    instance, moment = logs.mean(axis=0), logs.mean(axis=1)
    residual = logs - instance[None, :] - moment[:, None] + logs.mean()
    return {
        "cell": cell.label,
        "median step": f"{np.median(grid) * 1e3:.3f} ms",
        "instance effect (sd log)": f"{np.std(instance):.3f}",
        "time effect (sd log)": f"{np.std(moment):.3f}",
        "residual (sd log)": f"{np.std(residual):.3f}",
    }


def main() -> None:
    rows = [decompose(cell) for cell in CELLS]
    print(tabulate(rows, headers="keys", tablefmt="github"))


if __name__ == "__main__":
    main()
