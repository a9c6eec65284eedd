"""Steady-state timing of a Keras model: the number blockbench reports.

Each sample runs K steps inside ONE traced call (a ``tf.while_loop`` inside a
``tf.function``), and the result is fetched to the host before the clock stops. K is
calibrated so a sample lasts at least ``min_sample_s``. The first call (trace + compile +
one step) is reported apart as compile time; warm-up samples are discarded.

With XLA the *step* is compiled (``jit_compile=True``) and the loop around it is not, as
Keras does for ``steps_per_execution``. On this machine's XLA:CPU, compiling the whole
loop made steps far slower than compiling each step (a residual block's train step took
26 ms per step in a fully compiled loop, 3.0 ms with a compiled step in a plain loop,
and 4.2 ms called step by step from Python), so that would measure XLA's loop codegen,
not the block.

Forward loops read one of two distinct batches per step (indexed by the loop counter) and
accumulate the outputs, so the compiler can neither hoist the model out of the loop nor
drop it as dead code.

>>> from bench.spec.cell import Cell
>>> from bench.measure.model import build_model
>>> cell = Cell("dense", (("units", 4),), (4,), 2, "train")
>>> x = np.zeros((2, 2, 4), np.float32); y = np.zeros((2, 2), np.int32)
>>> program = make_program(build_model(cell, fixed_batch=True), x, y, pass_="train", xla=False)
>>> timing = measure_round(program, RunSettings(repeats=2, min_sample_s=0.001), steps=5)
>>> timing.steps_per_sample, len(timing.samples_s)
(5, 2)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from bench.measure.model import make_loss, make_optimizer
from bench.spec.config import RunSettings


@dataclass(frozen=True)
class ModelTiming:
    """Raw timing of one model: compile time, K, per-step seconds of each sample."""

    compile_s: float
    steps_per_sample: int
    samples_s: tuple[float, ...]
    warmup_s: tuple[float, ...]


@dataclass(frozen=True)
class StepProgram:
    """A compiled loop: ``run(k)`` runs k steps in one call and returns a host value;
    ``step(i)`` runs a single step (for profiling and memory phases)."""

    run: Callable[[int], float]
    step: Callable[[int], float]


def make_program(
    model: keras.Model, x: np.ndarray, y: np.ndarray, *, pass_: str, xla: bool
) -> StepProgram:
    """Build the traced K-step loop for a forward or train pass.

    ``x`` holds two batches stacked on a leading axis (shape ``(2, batch, ...)``); ``y``
    the matching integer labels ``(2, batch)``. Train steps use Adam(1e-3) and sparse
    categorical cross-entropy from logits, as ``model.fit`` would.
    """
    xs = tf.constant(x)
    ys = tf.constant(y)
    if pass_ == "train":
        optimizer = make_optimizer()
        optimizer.build(model.trainable_variables)
        loss_fn = make_loss()

        def one_step(index: tf.Tensor) -> tf.Tensor:
            slot = index % 2
            xb, yb = tf.gather(xs, slot), tf.gather(ys, slot)
            with tf.GradientTape() as tape:
                loss = loss_fn(yb, model(xb, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            return loss

    elif pass_ == "forward":

        def one_step(index: tf.Tensor) -> tf.Tensor:
            xb = tf.gather(xs, index % 2)
            return tf.reduce_sum(tf.cast(model(xb, training=False), tf.float32))

    else:
        raise ValueError(f"pass must be 'forward' or 'train', got {pass_!r}")
    if xla:
        one_step = tf.function(one_step, jit_compile=True, reduce_retracing=True)

    @tf.function(jit_compile=False, reduce_retracing=True)
    def loop(num_steps: tf.Tensor) -> tf.Tensor:
        # Forward steps do not depend on each other, so without parallel_iterations=1
        # TensorFlow would overlap them, understating the step time and inflating memory.
        _, total = tf.while_loop(
            lambda index, total: index < num_steps,
            lambda index, total: (index + 1, total + one_step(index)),
            (tf.constant(0), tf.constant(0.0)),
            parallel_iterations=1,  # one step at a time: steps never overlap
        )
        return total

    def run(num_steps: int) -> float:
        return float(loop(tf.constant(num_steps, tf.int32)).numpy())

    # A profiled step is one call of the step alone, with no loop around it: xprof groups
    # a profile's steps by in-graph loop iterations when it finds a while loop, and then
    # ignores the Trace step markers (the Overview Page would show no step times).
    single = tf.function(one_step, jit_compile=False, reduce_retracing=True)

    def step(index: int) -> float:
        return float(single(tf.constant(index, tf.int32)).numpy())

    return StepProgram(run=run, step=step)


def measure_round(
    program: StepProgram, settings: RunSettings, *, steps: int | None = None
) -> ModelTiming:
    """One round: compile (first call), calibrate K unless ``steps`` gives it (later
    rounds reuse the first round's K, so every round times the same work), discard
    warm-up, then take ``settings.repeats`` samples."""
    start = time.perf_counter()
    program.run(1)
    compile_s = time.perf_counter() - start
    if steps is None:
        steps = calibrate(program.run, settings.min_sample_s, settings.max_steps_per_sample)
    warmup = tuple(_sample(program.run, steps) for _ in range(settings.warmup))
    samples = tuple(_sample(program.run, steps) for _ in range(settings.repeats))
    return ModelTiming(compile_s, steps, samples, warmup)


def calibrate(run: Callable[[int], float], min_sample_s: float, max_steps: int) -> int:
    """Smallest K (grown geometrically) whose K-step call lasts at least ``min_sample_s``.

    A candidate K is timed twice and the faster call counts, so one slow call (a cold
    cache, a busy core) cannot pass a K whose samples then come out too short.

    >>> calibrate(lambda k: time.sleep(0.001 * k), 0.02, 1000) >= 15
    True
    """
    steps = 1
    while True:
        elapsed = min(_call_seconds(run, steps) for _ in range(2))
        if elapsed >= min_sample_s or steps >= max_steps:
            return steps
        # aim 20% past the target; at least double when the call was too short to trust
        guess = math.ceil(steps * 1.2 * min_sample_s / max(elapsed, 1e-9))
        steps = min(max_steps, max(steps * 2, guess) if elapsed < min_sample_s / 10 else guess)
        steps = max(steps, 2)


def _call_seconds(run: Callable[[int], float], steps: int) -> float:
    start = time.perf_counter()
    run(steps)  # returns a host float: the device work has finished
    return time.perf_counter() - start


def _sample(run: Callable[[int], float], steps: int) -> float:
    return _call_seconds(run, steps) / steps


def keras_step_time(
    model: keras.Model, x: np.ndarray, y: np.ndarray, *, pass_: str, xla: bool, steps: int
) -> tuple[float, bool]:
    """Median per-step time of Keras' own ``fit`` (train) or ``predict`` (forward) loop.

    This is the end-to-end number a user sees, Python dispatch and callbacks included.
    Returns ``(median seconds per step, whether Keras kept jit_compile)``.
    """
    model.compile(optimizer=make_optimizer(), loss=make_loss(), jit_compile=xla)
    kept_xla = bool(getattr(model, "jit_compile", xla)) if xla else False
    stamps = _Stamps()
    batches = tf.data.Dataset.from_tensors((x[0], y[0])).repeat()
    if pass_ == "train":
        model.fit(
            batches, epochs=1, steps_per_epoch=2, verbose=0, shuffle=False
        )  # compile, warm up
        model.fit(
            batches, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False, callbacks=[stamps]
        )
    else:
        inputs = batches.map(lambda a, b: a)
        model.predict(inputs, steps=2, verbose=0)
        model.predict(inputs, steps=steps, verbose=0, callbacks=[stamps])
    return stamps.median_interval(), kept_xla


class _Stamps(keras.callbacks.Callback):
    """Records the end time of every batch; intervals are whole steps with dispatch."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.times.append(time.perf_counter())

    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.times.append(time.perf_counter())

    def median_interval(self) -> float:
        intervals = np.diff(self.times)
        if intervals.size == 0:
            raise RuntimeError("Keras ran fewer than two batches; cannot time a step")
        return float(np.median(intervals))
