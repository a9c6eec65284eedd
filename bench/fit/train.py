"""Run one ``pass = "fit"`` cell: train the model under test on a dataset, keep its curves.

The model is ``bench.measure.model.build_model`` (input -> block -> pooling -> Dense logits),
trained with Adam (``make_optimizer``) on sparse categorical cross-entropy from logits
(``make_loss``), minibatches of ``cell.batch_size`` reshuffled every epoch, the last
partial batch kept, as ``model.fit(..., shuffle=True)`` does. No early stopping: the
whole curve is the measurement.

Speed: the whole run is one traced call. A ``tf.while_loop`` over epochs holds a
``tf.while_loop`` over minibatches (in-graph shuffling: a permutation drawn from the
stateless seed ``(seed, epoch)``) and, after every epoch, one inference-mode forward pass
over train, validation and test inputs that gives every per-epoch number below. Python
runs once per cell, not once per batch or epoch (``model.fit`` spent 56-86 ms of Python
per digits epoch on this machine; see the module ``bench.fit.speed`` for the comparison).

Per epoch, in inference mode: loss and error on the training labels the model is
trained on (``train_loss``, ``train_error_noisy``: corrupted when the cell corrupts
labels), error on the clean training labels (``train_error_clean``), validation and test
loss and error. The loop stops early when a loss is NaN or infinite (divergence) or, with
``until = "interpolation"``, once ``train_error_noisy <= epsilon``. The stored curves
keep the log-spaced epochs of :func:`eval_epochs` plus the best-validation, interpolation
and last epochs; the summary numbers are computed from every epoch.

Determinism: ``keras.utils.set_random_seed(seed)`` (weights, dropout) plus the stateless
shuffle, and TensorFlow op determinism (``tf.config.experimental.enable_op_determinism``).
Op determinism is process-wide, so it is switched on for the cell and restored to what it
was afterwards: left on, it would make Keras silently drop ``jit_compile=True`` for later
cells of the same worker (timing cells included). Same seed, same machine: same curves
within float tolerance. The data split never depends on the seed; label corruption does.

XLA (``cell.xla``): the train step is compiled with ``jit_compile=True`` inside the
loop, with op determinism off (seeds alone make it repeatable; XLA on CPU repeated the
same curves here, but TensorFlow does not promise it).

>>> from bench.spec.cell import Cell, FitSettings
>>> cell = Cell("dense", (("units", 8),), (64,), 64, "fit",
...             fit=FitSettings("digits", epochs=2))
>>> run_fit_cell(cell).epochs_run  # doctest: +SKIP
2
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator

import keras
import numpy as np
import tensorflow as tf
from tensorflow.python.framework import config as tf_config

from bench.data import datasets
from bench.fit import curves
from bench.measure.model import build_model, make_loss, make_optimizer
from bench.results.records import FitResult
from bench.spec.cell import Cell

METRIC = "accuracy"
# Columns of the per-epoch table the traced loop returns, in order.
EPOCH_COLUMNS = (
    "train_loss",
    "train_error_noisy",
    "train_error_clean",
    "val_loss",
    "val_error",
    "test_loss",
    "test_error",
)
SHUFFLE_SALT = 0x5F1  # separates the shuffle stream from other uses of the seed


def eval_epochs(last: int, *, per_octave: int = 2) -> list[int]:
    """Log-spaced evaluation epochs from 1 to ``last``: ``per_octave`` per doubling,
    rounded, without repeats, ``last`` always included.

    >>> eval_epochs(20)
    [1, 2, 3, 4, 6, 8, 11, 16, 20]
    >>> eval_epochs(5, per_octave=1), eval_epochs(1)
    ([1, 2, 4, 5], [1])
    """
    if last < 1:
        return []
    epochs, step = set(), 0
    while (value := round(2 ** (step / per_octave))) < last:
        epochs.add(value)
        step += 1
    return sorted(epochs | {last})


def run_fit_cell(cell: Cell) -> FitResult:
    """Train ``cell``'s model on its dataset and return its curves and what they say.

    Test error is reported twice: at the final epoch (``final_test_error``) and at the
    best-validation epoch (``best_test_error``, the early-stopped answer; lowest
    validation error, ties to the lower validation loss, then the earlier epoch).
    ``test_metric`` is the early-stopped test accuracy. Memorisation (``random_labels``
    only): accuracy on the random training labels at the final epoch, inference mode.
    A NaN or infinite loss stops training: the result comes back normally with
    ``diverged_epoch`` set and curves up to that epoch; memorisation is then ``None``.

    Raises ``ValueError`` before training when the cell is not a fit cell, its settings
    are invalid (``until``, ``epochs``/``max_epochs``, ``epsilon``) or the dataset does
    not fit the block.
    """
    split = prepare(cell)
    with _op_determinism(not cell.xla):
        return _train(cell, split)


def prepare(cell: Cell) -> datasets.Split:
    """Check ``cell`` (a fit cell with valid settings whose dataset fits its block) and
    load its dataset view, labels corrupted as it asks; ``ValueError`` when it is not."""
    settings = cell.fit
    if cell.pass_ != "fit" or settings is None:
        raise ValueError(f"run_fit_cell needs a pass='fit' cell with fit settings: {cell.label}")
    problems = settings.problems()
    if problems:
        raise ValueError(f"{cell.label}: " + "; ".join(problems))
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
    return datasets.load(
        settings.dataset,
        rank=len(shape),
        label_noise=settings.label_noise,
        random_labels=settings.random_labels,
        seed=settings.seed,
    )


def train_epochs(cell: Cell, split: datasets.Split) -> tuple[keras.Model, np.ndarray, float]:
    """Build and train ``cell``'s model in one traced call; return the model, the
    per-epoch table (rows: epochs run, columns: :data:`EPOCH_COLUMNS`) and the wall
    time of the call (trace included). Op determinism is the caller's business."""
    settings = cell.fit
    keras.backend.clear_session()  # free earlier models; fresh layer names
    keras.utils.set_random_seed(settings.seed)
    model = build_model(cell, num_classes=split.num_classes, input_shape=split.input_shape)
    optimizer = make_optimizer(settings.learning_rate)
    optimizer.build(model.trainable_variables)
    loss_fn = make_loss()
    per_sample = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)

    x_train = tf.constant(split.x_train)
    y_train = tf.constant(split.y_train, dtype=tf.int64)
    x_all = tf.constant(np.concatenate([split.x_train, split.x_val, split.x_test]))
    labels = [
        tf.constant(y, dtype=tf.int64)
        for y in (split.y_train, split.clean_train_labels, split.y_val, split.y_test)
    ]
    n_train, n_val = len(split.y_train), len(split.y_val)
    batch = min(cell.batch_size, n_train)
    full_batches, remainder = divmod(n_train, batch)
    stop_at = float(settings.epsilon) if settings.until == "interpolation" else -1.0

    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
            if model.losses:
                loss = loss + tf.add_n(model.losses)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)

    step_fn = tf.function(step, jit_compile=True) if cell.xla else step

    def error(logits, y):
        wrong = tf.not_equal(tf.argmax(logits, axis=-1, output_type=tf.int64), y)
        return tf.reduce_mean(tf.cast(wrong, tf.float32))

    def loss_of(logits, y):
        return tf.reduce_mean(per_sample(y, logits))

    def evaluate():
        logits = tf.cast(model(x_all, training=False), tf.float32)
        train, val = logits[:n_train], logits[n_train : n_train + n_val]
        test = logits[n_train + n_val :]
        y_noisy, y_clean, y_val, y_test = labels
        return tf.stack(
            [
                loss_of(train, y_noisy),
                error(train, y_noisy),
                error(train, y_clean),
                loss_of(val, y_val),
                error(val, y_val),
                loss_of(test, y_test),
                error(test, y_test),
            ]
        )

    @tf.function
    def run(max_epochs):
        def epoch_body(epoch, done, table):
            seed = tf.stack([tf.constant(SHUFFLE_SALT + settings.seed, tf.int32), epoch])
            order = tf.argsort(tf.random.stateless_uniform([n_train], seed=seed))

            def batch_body(index):
                take = order[index * batch : (index + 1) * batch]
                step_fn(tf.gather(x_train, take), tf.gather(y_train, take))
                return (index + 1,)

            tf.while_loop(lambda index: index < full_batches, batch_body, (tf.constant(0),))
            if remainder:
                take = order[full_batches * batch :]
                step_fn(tf.gather(x_train, take), tf.gather(y_train, take))
            row = evaluate()
            finite = tf.reduce_all(tf.math.is_finite(row))
            done = tf.logical_or(tf.logical_not(finite), row[1] <= stop_at)
            return epoch + 1, done, table.write(epoch, row)

        table = tf.TensorArray(tf.float32, size=0, dynamic_size=True)
        _, _, table = tf.while_loop(
            lambda epoch, done, _: tf.logical_and(epoch < max_epochs, tf.logical_not(done)),
            epoch_body,
            (tf.constant(0), tf.constant(False), table),
        )
        return table.stack()

    start = time.perf_counter()
    rows = run(tf.constant(settings.epochs, tf.int32)).numpy().astype(float)
    return model, rows, time.perf_counter() - start


def _train(cell: Cell, split: datasets.Split) -> FitResult:
    model, rows, wall_s = train_epochs(cell, split)
    return result_of(cell, split, int(model.count_params()), rows, wall_s)


def result_of(
    cell: Cell, split: datasets.Split, params: int, rows: np.ndarray, wall_s: float
) -> FitResult:
    """The :class:`FitResult` of ``cell`` from its per-epoch table (rows: epochs run,
    columns: :data:`EPOCH_COLUMNS`)."""
    settings = cell.fit
    table = {name: rows[:, i].tolist() for i, name in enumerate(EPOCH_COLUMNS)}
    epochs_run = len(rows)
    train_metric = [1.0 - e for e in table["train_error_noisy"]]
    val_metric = [1.0 - e for e in table["val_error"]]
    summary = curves.summarise(
        {
            "train_loss": table["train_loss"],
            "val_loss": table["val_loss"],
            "train_metric": train_metric,
            "val_metric": val_metric,
        },
        patience=settings.patience,
    )
    interpolation = curves.first_at_most(table["train_error_noisy"], settings.epsilon)
    best = summary.best_epoch
    keep = set(eval_epochs(epochs_run)) | {e for e in (best, interpolation) if e}
    kept = sorted(keep)
    curve: dict[str, list[float | None]] = {"epoch": [float(e) for e in kept]}
    for name in EPOCH_COLUMNS:
        curve[name] = [_finite_or_none(table[name][e - 1]) for e in kept]

    diverged = summary.diverged_epoch
    if diverged is None and not all(math.isfinite(v) for v in rows[-1]):
        diverged = epochs_run  # a non-finite test loss (validation and train were finite)
    if diverged is not None:
        stopped = "diverged"
    elif settings.until == "interpolation":
        stopped = "interpolation" if interpolation == epochs_run else "max_epochs"
    else:
        stopped = "epochs"
    last = {name: _finite_or_none(values[-1]) for name, values in table.items()}
    if diverged is not None:  # errors of NaN logits mean nothing
        last = dict.fromkeys(last)
    memorisation = None
    if settings.random_labels and diverged is None and last["train_error_noisy"] is not None:
        memorisation = 1.0 - last["train_error_noisy"]
    best_test = _finite_or_none(table["test_error"][best - 1]) if best else None
    return FitResult(
        params=params,
        metric=METRIC,
        epochs_run=epochs_run,
        curves=curve,
        final_val_metric=summary.final_val_metric,
        best_val_metric=summary.best_val_metric,
        best_epoch=best,
        test_metric=None if best_test is None else 1.0 - best_test,
        gap_end=summary.gap_end,
        gap_best=summary.gap_best,
        onset_epoch=summary.onset_epoch,
        memorisation=memorisation,
        fit_wall_s=wall_s,
        diverged_epoch=diverged,
        train_size=split.train_size,
        until=settings.until,
        epsilon=settings.epsilon,
        stopped=stopped,
        interpolation_epoch=interpolation,
        final_test_error=last["test_error"],
        best_test_error=best_test,
        final_train_error=last["train_error_noisy"],
        final_train_error_clean=last["train_error_clean"],
        final_val_error=last["val_error"],
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


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
