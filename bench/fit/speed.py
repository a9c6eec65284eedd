"""The reference ``model.fit`` path, and time per epoch of it against the traced loop.

:func:`fit_reference` trains a fit cell the way the first version of the study did
(``model.fit`` with validation data, a per-batch callback that reads the loss, the best
weights copied at each new best epoch) and returns the same per-epoch table as
:func:`bench.fit.train.train_epochs`, so tests can check that both paths learn alike.
:func:`compare_speed` times both on one cell, interleaved in one process.

Run: ``python -m bench.fit.speed`` (dense units=32 on digits, batch 64).

>>> from bench.spec.cell import Cell, FitSettings
>>> cell = Cell("dense", (("units", 8),), (64,), 64, "fit", fit=FitSettings("digits", 2))
>>> sorted(compare_speed(cell, epochs=2, rounds=1))  # doctest: +SKIP
['fast_ms_per_epoch', 'ratio', 'reference_ms_per_epoch']
"""

from __future__ import annotations

import copy
import math
import statistics
import time

import keras
import numpy as np

from bench.data import datasets
from bench.fit import curves, train
from bench.measure.model import build_model, make_loss, make_optimizer
from bench.spec.cell import Cell, FitSettings


def load_split(cell: Cell) -> datasets.Split:
    """The cell's dataset view with its labels corrupted as the cell asks."""
    settings = cell.fit
    return datasets.load(
        settings.dataset,
        rank=len(cell.input_shape),
        label_noise=settings.label_noise,
        random_labels=settings.random_labels,
        seed=settings.seed,
    )


def fit_reference(
    cell: Cell, split: datasets.Split, *, evaluate: bool = True
) -> tuple[np.ndarray, float]:
    """Train with ``model.fit`` for ``cell.fit.epochs`` epochs; return the per-epoch
    table (columns :data:`bench.fit.train.EPOCH_COLUMNS`, inference mode, as the fast
    path records it) and the wall time of ``model.fit``. ``evaluate=False`` makes one
    ``model.fit`` call for all epochs, exactly the first version's path, and returns an
    empty table; with it, ``fit`` is called once per epoch and evaluated between calls
    (the time of the evaluations is left out)."""
    settings = cell.fit
    keras.backend.clear_session()
    keras.utils.set_random_seed(settings.seed)
    model = build_model(cell, num_classes=split.num_classes, input_shape=split.input_shape)
    model.compile(
        optimizer=make_optimizer(settings.learning_rate),
        loss=make_loss(),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name=train.METRIC)],
    )
    rows, wall = [], 0.0
    keeper = _KeepBest()
    calls = settings.epochs if evaluate else 1
    for _ in range(calls):
        start = time.perf_counter()
        model.fit(
            split.x_train,
            split.y_train,
            batch_size=cell.batch_size,
            epochs=1 if evaluate else settings.epochs,
            validation_data=(split.x_val, split.y_val),
            shuffle=True,
            verbose=0,
            callbacks=[_ReadLoss(), keeper],
        )
        wall += time.perf_counter() - start
        if evaluate:
            rows.append(_evaluate(model, split))
    return np.array(rows), wall


def compare_speed(
    cell: Cell, *, epochs: int = 30, fast_epochs: int = 400, rounds: int = 3
) -> dict[str, float]:
    """Median milliseconds per epoch of the reference (``epochs`` epochs) and the fast
    path (``fast_epochs``), alternating ``rounds`` times in this process. Each is timed as
    a difference of two runs (that many epochs and 1 epoch), so one-off costs (trace,
    first call) do not count; the fast path runs more epochs because its trace time
    varies by about a second on a busy machine."""
    split = load_split(cell)
    long = Cell(**{**vars(cell), "fit": FitSettings(**{**vars(cell.fit), "epochs": epochs})})
    fast_long = Cell(
        **{**vars(cell), "fit": FitSettings(**{**vars(cell.fit), "epochs": fast_epochs})}
    )
    one = Cell(**{**vars(cell), "fit": FitSettings(**{**vars(cell.fit), "epochs": 1})})
    fast, reference = [], []
    with train._op_determinism(True):
        for _ in range(rounds):
            _, _, wall_long = train.train_epochs(fast_long, split)
            _, _, wall_one = train.train_epochs(one, split)
            fast.append((wall_long - wall_one) / (fast_epochs - 1))
            _, wall_ref_long = fit_reference(long, split, evaluate=False)
            _, wall_ref_one = fit_reference(one, split, evaluate=False)
            reference.append((wall_ref_long - wall_ref_one) / (epochs - 1))
    fast_ms = statistics.median(fast) * 1e3
    reference_ms = statistics.median(reference) * 1e3
    return {
        "fast_ms_per_epoch": fast_ms,
        "reference_ms_per_epoch": reference_ms,
        "ratio": reference_ms / fast_ms if fast_ms > 0 else math.inf,
    }


def _evaluate(model: keras.Model, split: datasets.Split) -> list[float]:
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    x = np.concatenate([split.x_train, split.x_val, split.x_test])
    logits = np.asarray(model.predict(x, batch_size=4096, verbose=0), dtype=np.float64)
    n_train, n_val = len(split.y_train), len(split.y_val)
    parts = {
        "train": (logits[:n_train], split.y_train),
        "clean": (logits[:n_train], split.clean_train_labels),
        "val": (logits[n_train : n_train + n_val], split.y_val),
        "test": (logits[n_train + n_val :], split.y_test),
    }

    def error(name):
        values, y = parts[name]
        return float(np.mean(values.argmax(-1) != y))

    def mean_loss(name):
        values, y = parts[name]
        return float(loss(y, values))

    return [
        mean_loss("train"),
        error("train"),
        error("clean"),
        mean_loss("val"),
        error("val"),
        mean_loss("test"),
        error("test"),
    ]


class _ReadLoss(keras.callbacks.Callback):
    """Read the loss back to the host after every batch, as the first version did."""

    def on_train_batch_end(self, batch, logs=None):
        float((logs or {}).get("loss", 0.0))


class _KeepBest(keras.callbacks.Callback):
    """Copy the weights at each new best validation epoch, as the first version did."""

    def __init__(self):
        super().__init__()
        self._best: tuple[float, float] | None = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        metric, loss = logs.get(f"val_{train.METRIC}"), logs.get("val_loss")
        if metric is None or loss is None:
            return
        best = self._best or (None, None)
        if curves.better(float(metric), float(loss), *best):
            self._best = (float(metric), float(loss))
            copy.deepcopy(self.model.get_weights())


def main() -> None:
    cell = Cell("dense", (("units", 32),), (64,), 64, "fit", fit=FitSettings("digits", 30))
    result = compare_speed(cell)
    print(
        f"{cell.label}: model.fit {result['reference_ms_per_epoch']:.2f} ms/epoch, "
        f"traced loop {result['fast_ms_per_epoch']:.2f} ms/epoch, "
        f"{result['ratio']:.1f}x faster"
    )


if __name__ == "__main__":
    main()
