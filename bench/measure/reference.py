"""The canary's and the peak-FLOP probe's timing, shared by every backend: each backend
supplies only ``run(k)``, k chained float32 matmuls fetched to the host.

>>> import time
>>> result = time_canary(lambda k: time.sleep(0.0001 * k), steps=2, samples=3, label="sleep")
>>> len(result["samples_s"]), result["label"]
(3, 'sleep')
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from bench.measure.rounds import calibrate, sample_seconds

Run = Callable[[int], object]


def time_canary(run: Run, *, steps: int, samples: int, label: str) -> dict[str, Any]:
    """Seconds per matmul of each sample of the fixed workload (after a warm-up call)."""
    run(steps)  # trace, compile and warm up
    values = [sample_seconds(run, steps) for _ in range(samples)]
    return {"samples_s": values, "median_s": statistics.median(values), "label": label}


def measure_peak(
    run: Run, *, size: int, method: str, samples: int = 5, min_sample_s: float = 0.2
) -> dict[str, Any]:
    """Float32 matmul FLOP/s of ``run``: K calibrated to ``min_sample_s``, median of
    ``samples`` samples."""
    run(1)
    steps = calibrate(run, min_sample_s, 10_000)
    times = [sample_seconds(run, steps) for _ in range(samples)]
    return {
        "peak_flops": 2 * size**3 / statistics.median(times),
        "size": size,
        "dtype": "float32",
        "steps_per_sample": steps,
        "samples_s": times,
        "method": method,
    }
