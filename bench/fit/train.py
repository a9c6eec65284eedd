"""Run one ``pass = "fit"`` cell: train the model under test on a dataset, keep its curves.

The model is ``bench.measure.model.build_model`` (input -> block -> pooling -> Dense logits),
trained with Adam and sparse categorical cross-entropy from logits, accuracy as the
metric, ``model.fit(..., validation_data=..., shuffle=True)`` for ``epochs`` epochs (no
early stopping: the whole curve is the measurement; ``patience`` only sets how the
overfitting onset is read from it, see :func:`bench.fit.curves.onset_epoch`).

Determinism: ``keras.utils.set_random_seed(seed)`` (Python, NumPy, TensorFlow and the
Keras seed generator: weights, dropout and the per-epoch shuffle) and TensorFlow op
determinism (``tf.config.experimental.enable_op_determinism``). Op determinism is
process-wide, so it is switched on for the cell and restored to what it was afterwards:
left on, it would make Keras silently drop ``jit_compile=True`` for later cells of the
same worker (timing cells included). Same seed, same machine: same curves within float
tolerance. The data split never depends on the seed; label corruption does.

XLA (``cell.xla``): since Keras drops ``jit_compile=True`` under op determinism, an XLA
fit cell runs with op determinism off and relies on the seeds alone (XLA on CPU repeated
the same curves here, but TensorFlow does not promise it). A model that Keras cannot
compile with XLA raises ``RuntimeError`` rather than being recorded as XLA while running
without it.

>>> from bench.spec.cell import Cell, FitSettings
>>> cell = Cell("dense", (("units", 8),), (64,), 64, "fit",
...             fit=FitSettings("digits", epochs=2))
>>> run_fit_cell(cell).epochs_run  # doctest: +SKIP
2
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
import warnings
from collections.abc import Iterator

import keras
import tensorflow as tf
from tensorflow.python.framework import config as tf_config

from bench.data import datasets
from bench.fit import curves
from bench.measure.model import build_model, make_loss, make_optimizer
from bench.results.records import FitResult
from bench.spec.cell import Cell

METRIC = "accuracy"


def run_fit_cell(cell: Cell) -> FitResult:
    """Train ``cell``'s model on its dataset and return its curves and what they say.

    Test metric: the weights of the best epoch (highest validation accuracy, ties to the
    lower validation loss, :func:`bench.fit.curves.best_epoch`) are copied in memory when
    that epoch ends; after training they are restored and the test set is evaluated once
    with them. Memorisation (``random_labels`` only): accuracy on the corrupted training
    labels of the *final* weights, by ``model.evaluate`` (inference mode), taken before
    the best weights are restored. A NaN or infinite loss stops training: the result
    comes back normally with ``diverged_epoch`` set and curves up to that epoch
    (whose loss is non-finite); memorisation is then ``None``.

    Raises ``ValueError`` before training when the cell is not a fit cell or the dataset
    does not fit the block.
    """
    settings = cell.fit
    if cell.pass_ != "fit" or settings is None:
        raise ValueError(f"run_fit_cell needs a pass='fit' cell with fit settings: {cell.label}")
    if settings.epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {settings.epochs!r}")
    shape = datasets.check(
        settings.dataset,
        cell.block,
        cell.knob_dict,
        label_noise=settings.label_noise,
        random_labels=settings.random_labels,
    )
    if cell.input_shape and tuple(cell.input_shape) != shape:
        raise ValueError(
            f"cell input_shape {tuple(cell.input_shape)} is not dataset "
            f"{settings.dataset!r}'s shape {shape} for block {cell.block!r}"
        )
    split = datasets.load(
        settings.dataset,
        rank=len(shape),
        label_noise=settings.label_noise,
        random_labels=settings.random_labels,
        seed=settings.seed,
    )

    with _op_determinism(not cell.xla):
        return _train(cell, split)


def _train(cell: Cell, split: datasets.Split) -> FitResult:
    settings = cell.fit
    keras.backend.clear_session()  # free earlier models; fresh layer names
    keras.utils.set_random_seed(settings.seed)
    model = build_model(cell, num_classes=split.num_classes, input_shape=split.input_shape)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*support `jit_compile=True`")
        model.compile(
            optimizer=make_optimizer(settings.learning_rate),
            loss=make_loss(),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name=METRIC)],
            jit_compile=bool(cell.xla),
        )
    if cell.xla and not model.jit_compile:
        raise RuntimeError(f"Keras cannot compile this model with XLA: {cell.label}")
    keeper = _KeepBest()
    start = time.perf_counter()
    history = model.fit(
        split.x_train,
        split.y_train,
        batch_size=cell.batch_size,
        epochs=settings.epochs,
        validation_data=(split.x_val, split.y_val),
        shuffle=True,
        verbose=0,
        callbacks=[_StopOnNonFinite(), keeper],
    )
    fit_wall_s = time.perf_counter() - start

    logs = history.history
    curve = {
        "train_loss": _floats(logs.get("loss")),
        "val_loss": _floats(logs.get("val_loss")),
        "train_metric": _floats(logs.get(METRIC)),
        "val_metric": _floats(logs.get(f"val_{METRIC}")),
    }
    summary = curves.summarise(curve, patience=settings.patience)
    if summary.best_epoch != keeper.epoch:
        raise RuntimeError(f"best epoch {summary.best_epoch} != kept {keeper.epoch}")

    memorisation = None
    if settings.random_labels and summary.diverged_epoch is None:
        memorisation = _accuracy(model, split.x_train, split.y_train, cell.batch_size)
    test_metric = None
    if keeper.weights is not None:
        model.set_weights(keeper.weights)
        test_metric = _accuracy(model, split.x_test, split.y_test, cell.batch_size)

    return FitResult(
        params=int(model.count_params()),
        metric=METRIC,
        epochs_run=summary.epochs_run,
        curves=curve,
        final_val_metric=summary.final_val_metric,
        best_val_metric=summary.best_val_metric,
        best_epoch=summary.best_epoch,
        test_metric=test_metric,
        gap_end=summary.gap_end,
        gap_best=summary.gap_best,
        onset_epoch=summary.onset_epoch,
        memorisation=memorisation,
        fit_wall_s=fit_wall_s,
        diverged_epoch=summary.diverged_epoch,
        train_size=split.train_size,
    )


@contextlib.contextmanager
def _op_determinism(enabled: bool) -> Iterator[None]:
    """Set TensorFlow op determinism for a block, then restore what it was."""
    before = tf_config.is_op_determinism_enabled()
    _set_op_determinism(enabled)
    try:
        yield
    finally:
        _set_op_determinism(before)


def _set_op_determinism(enabled: bool) -> None:
    if enabled:
        tf.config.experimental.enable_op_determinism()
    else:
        tf_config.disable_op_determinism()  # no public API; Keras reads the same flag


class _StopOnNonFinite(keras.callbacks.Callback):
    """Stop training (quietly, unlike ``TerminateOnNaN``) at a NaN or infinite loss,
    after a batch or in the validation logs of an epoch."""

    def on_train_batch_end(self, batch, logs=None):
        if not _finite((logs or {}).get("loss")):
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if not (_finite(logs.get("loss")) and _finite(logs.get("val_loss"))):
            self.model.stop_training = True


class _KeepBest(keras.callbacks.Callback):
    """Copy the weights at the end of every epoch that is the best so far
    (by :func:`bench.fit.curves.better`)."""

    def __init__(self):
        super().__init__()
        self.epoch: int | None = None
        self.weights: list | None = None
        self._metric: float | None = None
        self._loss: float | None = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        metric, loss = logs.get(f"val_{METRIC}"), logs.get("val_loss")
        if metric is None or loss is None:
            return
        metric, loss = float(metric), float(loss)
        if curves.better(metric, loss, self._metric, self._loss):
            self.epoch, self._metric, self._loss = epoch + 1, metric, loss
            self.weights = copy.deepcopy(self.model.get_weights())


def _accuracy(model: keras.Model, x, y, batch_size: int) -> float:
    result = model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
    return float(result[METRIC])


def _floats(values) -> list[float]:
    return [float(v) for v in (values or [])]


def _finite(value) -> bool:
    return value is not None and math.isfinite(float(value))
