"""The canary: a fixed reference workload timed at the start of a run, between its
rounds and at its end. It never changes with the config, so its drift within a run says
how much the machine itself moved; a run whose canary moved by more than 10% is marked
busy in its report and in ``compare``.

The workload is a train step of ``dense units=256`` on 64 features at batch 64 (about
0.1 ms of compute and the same Python-free in-graph loop as every timing cell), K fixed at
``STEPS`` so every run times exactly the same work.

>>> result = canary(samples=2, steps=5)
>>> len(result["samples_s"]), result["median_s"] > 0
(2, True)
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import keras
import numpy as np

from bench.measure.model import build_model
from bench.measure.timing import make_program
from bench.spec.cell import Cell

CELL = Cell("dense", (("units", 256),), (64,), 64, "train")
STEPS = 40
SAMPLES = 5


def canary(*, samples: int = SAMPLES, steps: int = STEPS) -> dict[str, Any]:
    """Seconds per step of each sample of the fixed workload, and their median."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, CELL.batch_size, *CELL.input_shape)).astype(np.float32)
    y = rng.integers(0, 10, size=(2, CELL.batch_size)).astype(np.int32)
    try:
        program = make_program(build_model(CELL, fixed_batch=True), x, y, pass_="train",
                               xla=False)  # fmt: skip
        program.run(steps)  # compile and warm up
        values = []
        for _ in range(samples):
            start = time.perf_counter()
            program.run(steps)
            values.append((time.perf_counter() - start) / steps)
    finally:
        keras.backend.clear_session()
    return {"samples_s": values, "median_s": statistics.median(values), "label": CELL.label}
