"""TensorFlow's step program: K steps of a Keras model in one traced call.

Each sample (`bench.measure.rounds`) runs K steps inside ONE traced call (a
``tf.while_loop`` inside a ``tf.function``), and the result is fetched to the host before
the clock stops.

With XLA the *step* is compiled (``jit_compile=True``) and the loop around it is not, as
Keras does for ``steps_per_execution``. On this machine's XLA:CPU, compiling the whole
loop made steps far slower than compiling each step (a residual block's train step took
26 ms per step in a fully compiled loop, 3.0 ms with a compiled step in a plain loop,
and 4.2 ms called step by step from Python), so that would measure XLA's loop codegen,
not the block.

Forward loops read one of two distinct batches per step (indexed by the loop counter) and
accumulate the outputs, so the compiler can neither hoist the model out of the loop nor
drop it as dead code.

Every function is traced without AutoGraph (``autograph=False``): the loop is an explicit
``tf.while_loop`` and Keras 3 layers hold no Python control flow on tensors, so there is
nothing to convert, and converting every call cost 15% of a cell's first call (30 cells,
measured here: 30.1 s of first calls with AutoGraph, 25.9 s without). The traced graph,
and so the step time, is the same.

>>> from bench.spec.cell import Cell
>>> from bench.measure.model import build_model
>>> cell = Cell("dense", (("units", 4),), (4,), 2, "train")
>>> x = np.zeros((2, 2, 4), np.float32); y = np.zeros((2, 2), np.int32)
>>> program = make_program(build_model(cell, fixed_batch=True), x, y, pass_="train", xla=False)
>>> from bench.measure.rounds import RunSettings, measure_round
>>> timing = measure_round(program, RunSettings(repeats=2, min_sample_s=0.001), steps=5)
>>> timing.steps_per_sample, len(timing.samples_s)
(5, 2)
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from bench.measure.model import make_loss, make_optimizer
from bench.measure.rounds import StepProgram


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
        one_step = tf.function(one_step, jit_compile=True, reduce_retracing=True, autograph=False)

    @tf.function(jit_compile=False, reduce_retracing=True, autograph=False)
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
    single = tf.function(one_step, jit_compile=False, reduce_retracing=True, autograph=False)

    def step(index: int) -> float:
        return float(single(tf.constant(index, tf.int32)).numpy())

    return StepProgram(run=run, step=step)
