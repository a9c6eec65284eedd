"""Time per epoch of the overfitting study's training paths, on digits dense (issue 10).

Measured in one process, interleaved, each as the difference of a long and a 1-epoch run
(so trace and first-call costs do not count):
  A. the first version's path: ``model.fit`` with validation data and a per-batch
     callback (`bench.fit.speed.fit_reference`);
  B. the traced loop, one seed per call (`bench.fit.train`), evaluating every epoch;
  C. three seeds stacked as one model (`bench.fit.group.run_fit_group`), per seed.
The target is A / C >= 50.

Run: python benchmarks/fit_speed.py   (a few minutes; run it alone)
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fit import speed, train  # noqa: E402
from bench.fit.group import run_fit_group  # noqa: E402
from bench.spec.cell import Cell, FitSettings  # noqa: E402

ROUNDS = 3


def cell(epochs: int, seed: int = 0, batch: int = 64) -> Cell:
    return Cell("dense", (("units", 32),), (64,), batch, "fit",
                fit=FitSettings("digits", epochs, seed=seed))  # fmt: skip


def group_seconds(epochs: int) -> float:
    start = time.perf_counter()
    run_fit_group([cell(epochs, seed) for seed in (0, 1, 2)])
    return time.perf_counter() - start


def main() -> None:
    reference, traced, stacked = [], [], []
    split = speed.load_split(cell(1))
    for _ in range(ROUNDS):
        _, long_s = speed.fit_reference(cell(30), split, evaluate=False)
        _, one_s = speed.fit_reference(cell(1), split, evaluate=False)
        reference.append((long_s - one_s) / 29)
        with train._op_determinism(True):
            _, _, long_s = train.train_epochs(cell(300), split)
            _, _, one_s = train.train_epochs(cell(1), split)
        traced.append((long_s - one_s) / 299)
        stacked.append((group_seconds(300) - group_seconds(1)) / 299 / 3)
    a, b, c = (statistics.median(v) * 1e3 for v in (reference, traced, stacked))
    print("| path | ms per epoch (median of 3) | spread | vs model.fit |")
    print("|---|---|---|---|")
    for name, values, value in (("A. model.fit (first version)", reference, a),
                                ("B. traced loop, one seed", traced, b),
                                ("C. 3 seeds stacked, per seed", stacked, c)):  # fmt: skip
        spread = f"{min(values) * 1e3:.2f}–{max(values) * 1e3:.2f}"
        print(f"| {name} | {value:.2f} | {spread} | {a / value:.1f}× |")


if __name__ == "__main__":
    main()
