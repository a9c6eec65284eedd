"""The device's measured float32 matmul peak, the denominator of "% of peak".

Timed like a cell: square matmuls chained inside one traced loop, K calibrated to last
at least 0.2 s, median of 5 samples. Run once per run per device.

>>> peak_flops("gpu")["reason"]  # on a machine without a GPU
'no GPU visible'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

from bench.measure.reference import measure_peak

SIZES = {"cpu": 1024, "gpu": 8192}


def matmul_chain(size: int) -> Callable[[int], float]:
    """``run(k)``: ``k`` chained float32 ``size``² matmuls in one traced loop, fetched to
    the host (the probe's and the canary's workload; the first call traces it).

    >>> run = matmul_chain(8)
    >>> run(3) == run(3)
    True
    """
    a = tf.random.stateless_normal((size, size), seed=(1, 2)) / size**0.5
    b = tf.random.stateless_normal((size, size), seed=(3, 4)) / size**0.5

    @tf.function(jit_compile=False)
    def loop(num_steps: tf.Tensor) -> tf.Tensor:
        x = a
        for _ in tf.range(num_steps):
            x = tf.matmul(x, b)  # chained: no step can be skipped or hoisted
        return tf.reduce_sum(x)

    return lambda k: float(loop(tf.constant(k)).numpy())


def peak_flops(device: str, *, samples: int = 5, min_sample_s: float = 0.2) -> dict[str, Any]:
    """Float32 matmul FLOP/s on ``device`` ("cpu" or "gpu"), or None with a reason."""
    if device == "gpu" and not tf.config.list_physical_devices("GPU"):
        return {"peak_flops": None, "reason": "no GPU visible"}
    size = SIZES[device]
    with tf.device("/GPU:0" if device == "gpu" else "/CPU:0"):
        method = f"chained {size}x{size} float32 matmuls in one tf.function loop"
        return measure_peak(matmul_chain(size), size=size, method=method, samples=samples,
                            min_sample_s=min_sample_s)  # fmt: skip
