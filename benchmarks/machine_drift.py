"""Does the machine's speed wander over time, and do all workloads wander together?

In ONE process (so no process effect can enter): four very different timing cells (a
dispatch-bound tiny dense train step, a large dense train step, a dense forward step and
a conv train step) are built once, then swept over for ``--seconds`` seconds, one
K-step sample of each per sweep. On the logs of the per-step times, each cell's median
is subtracted; the mean of the four residuals of a sweep is the *shared* effect of that
moment. The table gives the shared effect and each cell's own residual per 10-second
window: if the windows differ and the four cells move together, the machine's speed
wanders and every workload feels it alike (then a run's samples must spread over many
windows, and cells measured in the same sweeps share the moment's speed).

Measured here (2-vCPU VM, TF 2.21, two runs of 120 s): 10-second windows differed by
sd 0.10 and 0.08 of log step time (from +0.19 to -0.21), the four cells mostly within
0.03-0.07 of each other in every window; with the shared effect removed, consecutive
50 ms samples of one cell barely correlate (lag-1 autocorrelation 0.11). Over shorter
spans (four runs of 30 s), one sweep's shared effect had sd 0.10-0.16 and each cell's
own residual a robust sd of 0.04-0.08. That is why the canary's single readings span
19-107% on quiet runs (`reports.machine`), why a round's cells are visited in sweeps,
and why each sample's moment is estimated from its neighbours in time
(`bench.results.moments`).

Run: python benchmarks/machine_drift.py [--seconds 120]   (run it alone)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from tabulate import tabulate  # noqa: E402

from bench.measure import backends  # noqa: E402
from bench.measure.rounds import sample_seconds  # noqa: E402
from bench.spec.cell import Cell  # noqa: E402
from bench.spec.config import RunSettings  # noqa: E402
from bench.worker.execute import CellContext, run_round  # noqa: E402

CELLS = (
    Cell("dense", (("units", 32),), (64,), 32, "train"),
    Cell("dense", (("units", 1024),), (64,), 32, "train"),
    Cell("dense", (("units", 128),), (64,), 32, "forward"),
    Cell("conv", (("filters", 8),), (16, 16, 1), 16, "train"),
)
WINDOW_S = 10.0


def sweep(seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """Sweep times (s since the start) and log per-step times ``[cells, sweeps]``."""
    settings = RunSettings(repeats=1, min_sample_s=0.05)
    backend = backends.load("tensorflow")
    backend.setup(settings)
    context = CellContext(settings, Path("."), backend=backend)
    for position, cell in enumerate(CELLS):
        run_round(cell, context, round_=1, position=position, keep=True)
    kept = [context.kept[cell.cell_id] for cell in CELLS]
    for program, steps in kept:  # the first call after the others were built runs slow
        sample_seconds(program.run, steps)
    start, times, samples = time.perf_counter(), [], []
    while time.perf_counter() - start < seconds:
        times.append(time.perf_counter() - start)
        samples.append([sample_seconds(program.run, steps) for program, steps in kept])
    return np.array(times), np.log(np.array(samples).T)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    args = parser.parse_args()
    times, logs = sweep(args.seconds)
    residuals = logs - np.median(logs, axis=1, keepdims=True)
    shared = residuals.mean(axis=0)
    rows, windows = [], []
    for low in np.arange(0.0, times[-1], WINDOW_S):
        inside = (times >= low) & (times < low + WINDOW_S)
        if not inside.any():
            continue
        own = residuals[:, inside].mean(axis=1)
        windows.append(shared[inside].mean())
        rows.append([f"{low:.0f}-{low + WINDOW_S:.0f} s", f"{windows[-1]:+.3f}",
                     *(f"{v:+.3f}" for v in own), f"{np.ptp(own):.3f}"])  # fmt: skip
    headers = ["window", "shared", *(c.label.removesuffix(" cpu") for c in CELLS), "cells' range"]
    print(tabulate(rows, headers=headers, tablefmt="github"))
    lag = [np.corrcoef(r[:-1], r[1:])[0, 1] for r in residuals - shared]
    print(f"\n{len(times)} sweeps over {times[-1]:.0f} s. sd of the 10-s windows' shared "
          f"effect: {np.std(windows, ddof=1):.3f} (log step time); sd of one sweep's: "
          f"{np.std(shared, ddof=1):.3f}; lag-1 autocorrelation of a cell's own residual "
          f"(shared effect removed): {np.mean(lag):.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
