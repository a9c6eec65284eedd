"""Fidelity: does blockbench's step time match a hand-written in-graph training loop?

For the seed's dense model and for one conv block (batch 64, train, CPU, XLA off and on),
this measures in one process, interleaved (A B A B ...) so drift hits both alike:
  A. blockbench's timing path (``bench.measure.timing.make_program`` + ``measure_round``), and
  B. the loop a careful person writes by hand: a ``tf.function`` with a ``tf.range`` loop
     of GradientTape + ``optimizer.apply_gradients`` steps, fixed step count, result
     fetched with ``.numpy()``. With XLA the step function is ``jit_compile=True`` and the
     loop around it is not, as Keras does for ``steps_per_execution``;
  C. (XLA only, for information) the same loop with the whole loop XLA-compiled, which
     XLA:CPU runs much slower for convolutions (see ``bench/timing.py``).
It prints the medians and the ratio A/B; the target is |ratio - 1| <= 10%.

Run: python benchmarks/fidelity.py   (takes a few minutes on 2 cores; run it alone)
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import statistics  # noqa: E402
import time  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tabulate import tabulate  # noqa: E402

from bench.measure.model import build_model  # noqa: E402
from bench.measure.rounds import measure_round  # noqa: E402
from bench.measure.timing import make_program  # noqa: E402
from bench.spec.cell import Cell  # noqa: E402
from bench.spec.config import RunSettings  # noqa: E402
from blocks import seed  # noqa: E402

BATCH = 64
ROUNDS = 5


def hand_written_loop(
    model: keras.Model, x: np.ndarray, y: np.ndarray, *, xla: bool, whole_loop_xla: bool = False
):
    """The reference: what one writes by hand to time training steps in-graph."""
    optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    xb, yb = tf.constant(x), tf.constant(y)

    @tf.function(jit_compile=xla and not whole_loop_xla)
    def train_step():
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    @tf.function(jit_compile=whole_loop_xla)
    def loop(num_steps):
        loss = tf.constant(0.0)
        for _ in tf.range(num_steps):
            loss = train_step()
        return loss

    return loop


def _median_step(loop, steps: tf.Tensor, count: int, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        loop(steps).numpy()
        samples.append((time.perf_counter() - start) / count)
    return statistics.median(samples)


def measure(name: str, make_model, input_shape, num_classes: int, xla: bool) -> dict:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, BATCH, *input_shape)).astype(np.float32)
    y = rng.integers(0, num_classes, size=(2, BATCH)).astype(np.int32)
    settings = RunSettings(repeats=7, warmup=1, min_sample_s=0.2)

    ours_model, ref_model = make_model(), make_model()
    program = make_program(ours_model, x, y, pass_="train", xla=xla)
    loop = hand_written_loop(ref_model, x[0], y[0], xla=xla)
    first = measure_round(program, settings)  # compiles and calibrates K
    steps = tf.constant(first.steps_per_sample)
    loop(steps).numpy()  # compile the reference at the same K
    ours, ref = [], []
    for _ in range(ROUNDS):
        timing = measure_round(program, settings, steps=first.steps_per_sample)
        ours.append(statistics.median(timing.samples_s))
        ref.append(_median_step(loop, steps, first.steps_per_sample, settings.repeats))
    a, b = statistics.median(ours), statistics.median(ref)
    whole = "-"
    if xla:
        whole_loop = hand_written_loop(make_model(), x[0], y[0], xla=True, whole_loop_xla=True)
        whole_loop(steps).numpy()
        whole = f"{_median_step(whole_loop, steps, first.steps_per_sample, 5) * 1e3:.3f} ms"
    return {
        "model": name,
        "xla": xla,
        "K": first.steps_per_sample,
        "blockbench step": f"{a * 1e3:.3f} ms",
        "hand-written step": f"{b * 1e3:.3f} ms",
        "ratio": f"{a / b:.3f}",
        "within 10%": "yes" if abs(a / b - 1) <= 0.10 else "NO",
        "whole loop XLA (info)": whole,
    }


def main() -> None:
    conv = Cell("conv", (("filters", 32),), (28, 28, 1), BATCH, "train")
    rows = []
    for xla in (False, True):
        rows.append(measure("seed dense example", seed.dense_example, (10,), 1, xla))
        rows.append(
            measure(
                "conv filters=32 28x28x1",
                lambda: build_model(conv, fixed_batch=True),
                conv.input_shape,
                10,
                xla,
            )  # fmt: skip
        )
        print(tabulate(rows, headers="keys", tablefmt="github"), flush=True)


if __name__ == "__main__":
    main()
