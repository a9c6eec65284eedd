"""Keras' own ``fit()``/``predict()`` step time: the end-to-end number a user sees.

Backend-neutral: the model is compiled with the cell's compilation choice passed
explicitly (Keras' ``jit_compile="auto"`` differs per backend), and fed numpy arrays of
the cell's first batch repeated, so the same code runs on TensorFlow, JAX and PyTorch.
Python dispatch, the data adapter and callbacks are all in the number; blockbench's own
step time (`bench.measure.rounds`) leaves them out.
"""

from __future__ import annotations

import time

import keras
import numpy as np

from bench.measure.model import make_loss, make_optimizer

WARMUP_STEPS = 2


def keras_step_time(
    model: keras.Model, x: np.ndarray, y: np.ndarray, *, pass_: str, xla: bool, steps: int
) -> tuple[float, bool]:
    """Median per-step time of ``model.fit`` (train) or ``model.predict`` (forward).

    ``x``/``y`` hold two batches stacked on a leading axis; the first is repeated.
    Returns ``(median seconds per step, whether Keras kept jit_compile)``.
    """
    model.compile(optimizer=make_optimizer(), loss=make_loss(), jit_compile=xla)
    kept_xla = bool(getattr(model, "jit_compile", xla)) if xla else False
    batch = x.shape[1]
    stamps = _Stamps()
    for count, callbacks in ((WARMUP_STEPS, []), (steps, [stamps])):  # compile, then time
        xs = np.concatenate([x[0]] * count)
        if pass_ == "train":
            ys = np.concatenate([y[0]] * count)
            model.fit(xs, ys, batch_size=batch, epochs=1, verbose=0, shuffle=False,
                      callbacks=callbacks)  # fmt: skip
        else:
            model.predict(xs, batch_size=batch, verbose=0, callbacks=callbacks)
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
