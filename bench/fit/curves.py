"""What training curves say: best epoch, generalisation gap, overfitting onset, divergence.

Pure Python (no TensorFlow, no NumPy), so reports and tests use it freely. Curves are
lists with one value per epoch; epochs are 1-based; ``None`` means "never" or "not
measurable". Non-finite values (a diverged run) are never best and break any run of
rises or falls.

>>> curves = {
...     "train_loss": [1.0, 0.6, 0.4, 0.3, 0.2],
...     "val_loss": [1.1, 0.8, 0.7, 0.75, 0.9],
...     "train_metric": [0.5, 0.7, 0.8, 0.85, 0.9],
...     "val_metric": [0.45, 0.6, 0.7, 0.7, 0.65],
... }
>>> s = summarise(curves, patience=2)
>>> s.best_epoch, s.best_val_metric, s.final_val_metric, s.onset_epoch
(3, 0.7, 0.65, 3)
>>> round(s.gap_best, 6), round(s.gap_end, 6)
(0.3, 0.7)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

CURVE_NAMES = ("train_loss", "val_loss", "train_metric", "val_metric")


@dataclass(frozen=True)
class CurveSummary:
    """The numbers a :class:`bench.results.records.FitResult` derives from its curves."""

    epochs_run: int
    best_epoch: int | None
    best_val_metric: float | None
    final_val_metric: float | None
    gap_best: float | None
    gap_end: float | None
    onset_epoch: int | None
    diverged_epoch: int | None


def better(metric: float, loss: float, best_metric: float | None, best_loss: float | None) -> bool:
    """Whether (``metric``, ``loss``) beats the best so far: a higher metric, or the
    same metric with a lower loss. Non-finite candidates never win.

    >>> better(0.8, 0.5, 0.8, 0.6), better(0.8, 0.7, 0.8, 0.6), better(0.9, 9.0, None, None)
    (True, False, True)
    """
    if not (_finite(metric) and _finite(loss)):
        return False
    if best_metric is None or best_loss is None:
        return True
    return metric > best_metric or (metric == best_metric and loss < best_loss)


def best_epoch(val_metric: Sequence[float], val_loss: Sequence[float]) -> int | None:
    """The 1-based epoch with the highest validation metric; ties go to the lower
    validation loss, then to the earlier epoch. ``None`` when no epoch is finite.

    >>> best_epoch([0.5, 0.7, 0.7, 0.6], [1.0, 0.9, 0.8, 0.7])
    3
    """
    best, best_metric, best_loss = None, None, None
    for index, (metric, loss) in enumerate(zip(val_metric, val_loss, strict=True)):
        if better(metric, loss, best_metric, best_loss):
            best, best_metric, best_loss = index + 1, metric, loss
    return best


def gap(train_loss: Sequence[float], val_loss: Sequence[float], epoch: int | None) -> float | None:
    """Generalisation gap at a 1-based ``epoch``: validation loss minus training loss;
    ``None`` for no epoch or a non-finite gap.

    >>> gap([1.0, 0.5], [1.0, 0.75], 2)
    0.25
    """
    if epoch is None or not 1 <= epoch <= min(len(train_loss), len(val_loss)):
        return None
    value = val_loss[epoch - 1] - train_loss[epoch - 1]
    return value if _finite(value) else None


def onset_epoch(
    train_loss: Sequence[float], val_loss: Sequence[float], *, patience: int
) -> int | None:
    """The overfitting onset: the first 1-based epoch ``e`` after which validation loss
    rises strictly at each of the next ``patience`` epochs while training loss falls
    strictly at each of them, i.e. for every ``i`` in ``e .. e + patience - 1``::

        val_loss[i + 1] > val_loss[i]   and   train_loss[i + 1] < train_loss[i]

    (1-based indices). ``e`` is the last epoch before the rise, where validation loss
    was lowest locally. Needs ``e + patience <= epochs run``; ``None`` when no such
    epoch exists.

    >>> onset_epoch([5, 4, 3, 2, 1], [5, 4, 4.5, 5, 6], patience=2)
    2
    >>> onset_epoch([5, 4, 3, 3, 1], [5, 4, 4.5, 5, 6], patience=2) is None  # train flat
    True
    """
    if patience < 1:
        raise ValueError(f"patience must be >= 1, got {patience!r}")
    count = min(len(train_loss), len(val_loss))
    run = 0  # consecutive qualifying steps ending at the current one
    for index in range(1, count):
        rising = val_loss[index] > val_loss[index - 1]
        falling = train_loss[index] < train_loss[index - 1]
        run = run + 1 if rising and falling else 0
        if run == patience:
            return index - patience + 1  # 0-based start index + 1
    return None


def diverged_epoch(curves: Mapping[str, Sequence[float]]) -> int | None:
    """The first 1-based epoch whose training or validation loss is NaN or infinite.

    >>> diverged_epoch({"train_loss": [1.0, float("nan")], "val_loss": [1.0, 2.0]})
    2
    """
    train, val = curves.get("train_loss", ()), curves.get("val_loss", ())
    for index in range(max(len(train), len(val))):
        values = [c[index] for c in (train, val) if index < len(c)]
        if not all(_finite(v) for v in values):
            return index + 1
    return None


def summarise(curves: Mapping[str, Sequence[float]], *, patience: int) -> CurveSummary:
    """Everything :class:`CurveSummary` holds, from curves named as in ``CURVE_NAMES``.

    ``final_val_metric`` and ``gap_end`` are those of the last epoch run (``None`` if
    not finite, as after divergence); ``gap_best`` is at ``best_epoch``.
    """
    train_loss, val_loss = list(curves["train_loss"]), list(curves["val_loss"])
    val_metric = list(curves["val_metric"])
    epochs = len(val_loss)
    best = best_epoch(val_metric, val_loss)
    final = val_metric[-1] if val_metric and _finite(val_metric[-1]) else None
    return CurveSummary(
        epochs_run=epochs,
        best_epoch=best,
        best_val_metric=val_metric[best - 1] if best else None,
        final_val_metric=final,
        gap_best=gap(train_loss, val_loss, best),
        gap_end=gap(train_loss, val_loss, epochs or None),
        onset_epoch=onset_epoch(train_loss, val_loss, patience=patience),
        diverged_epoch=diverged_epoch(curves),
    )


def first_at_most(values: Sequence[float], threshold: float) -> int | None:
    """The first 1-based epoch whose value is <= ``threshold`` (e.g. the interpolation
    epoch: noisy-label train error <= epsilon); ``None`` when none is.

    >>> first_at_most([0.5, 0.2, 0.0, 0.0], 0.01), first_at_most([0.5, 0.2], 0.01)
    (3, None)
    """
    for index, value in enumerate(values):
        if _finite(value) and value <= threshold:
            return index + 1
    return None


def aggregate(values: Iterable[float | None]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (n - 1) over seeds; ``None`` entries (not
    measured, e.g. no onset) are left out; one value gives a std of 0.0; none gives
    ``(None, None)``. NaN propagates.

    >>> mean, std = aggregate([4, 36, 45, 50, 75])
    >>> mean, round(std, 4)
    (42.0, 25.7002)
    >>> aggregate([3, None]), aggregate([None])
    ((3.0, 0.0), (None, None))
    """
    kept = [float(v) for v in values if v is not None]
    if not kept:
        return None, None
    mean = math.fsum(kept) / len(kept)
    if len(kept) == 1:
        return mean, 0.0
    # by hand: statistics.stdev raises on NaN instead of returning it
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in kept) / (len(kept) - 1))


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
