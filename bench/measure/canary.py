"""The canary: a fixed matmul chain timed at the start of a run, between its
rounds and at its end. It never changes with the config, so its drift within a run says
how much the machine itself moved; a run whose canary moved by more than 10% is marked
busy in its report and in ``compare``.

The workload is the peak-FLOP probe's: a chain of float32 ``SIZE``² matmuls inside one
traced loop, ``STEPS`` per sample (about 0.1 s on 2 cores), one warm-up sample, then
``SAMPLES`` samples. A compute-bound workload on every core: a process competing for a
core slows it by up to 2x, while it barely feels the process-to-process variation that
small Keras steps show (their round medians scatter by about 20% here, see the report's
*between* spread), so a quiet machine reads as quiet.

>>> result = canary(samples=2, steps=2, size=64)
>>> len(result["samples_s"]), result["median_s"] > 0, result["label"]
(2, True, 'matmul 64x64 float32, 2 per sample')
"""

from __future__ import annotations

from typing import Any

from bench.measure.probe import matmul_chain
from bench.measure.reference import time_canary

SIZE = 512
STEPS = 50
SAMPLES = 5


def canary(*, samples: int = SAMPLES, steps: int = STEPS, size: int = SIZE) -> dict[str, Any]:
    """Seconds per matmul of each sample of the fixed workload, and their median."""
    label = f"matmul {size}x{size} float32, {steps} per sample"
    return time_canary(matmul_chain(size), steps=steps, samples=samples, label=label)
