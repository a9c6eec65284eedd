"""Curve analysis on literal curves: best epoch, gaps, overfitting onset, divergence."""

import math

import pytest

from bench.fit import curves

NAN, INF = float("nan"), float("inf")

# Train loss falls throughout; validation loss bottoms out at epoch 3, then rises.
OVERFIT = {
    "train_loss": [1.0, 0.6, 0.4, 0.3, 0.2, 0.1],
    "val_loss": [1.1, 0.8, 0.7, 0.75, 0.9, 1.2],
    "train_metric": [0.5, 0.7, 0.8, 0.85, 0.9, 0.95],
    "val_metric": [0.45, 0.6, 0.7, 0.7, 0.65, 0.6],
}


def test_summary_of_an_overfitting_run():
    s = curves.summarise(OVERFIT, patience=3)
    assert s.epochs_run == 6
    assert s.best_epoch == 3  # 0.7 twice: epoch 3 has the lower validation loss
    assert s.best_val_metric == 0.7
    assert s.final_val_metric == 0.6
    assert s.gap_best == pytest.approx(0.3)
    assert s.gap_end == pytest.approx(1.1)
    assert s.onset_epoch == 3
    assert s.diverged_epoch is None


@pytest.mark.parametrize(
    "val_metric,val_loss,expected",
    [
        ([0.5, 0.7, 0.6], [1.0, 0.9, 0.8], 2),
        ([0.5, 0.7, 0.7], [1.0, 0.9, 0.8], 3),  # tie on metric: lower loss wins
        ([0.7, 0.7, 0.5], [0.9, 0.9, 0.8], 1),  # full tie: earlier epoch wins
        ([NAN, 0.2, 0.1], [NAN, 2.0, 1.0], 2),  # non-finite epochs are never best
        ([0.9, 0.2], [INF, 1.0], 2),
        ([NAN], [NAN], None),
        ([], [], None),
    ],
)
def test_best_epoch(val_metric, val_loss, expected):
    assert curves.best_epoch(val_metric, val_loss) == expected


@pytest.mark.parametrize(
    "train_loss,val_loss,patience,expected",
    [
        # rises at 3->4, 4->5, 5->6 while train falls: onset at 3 for patience 1..3
        (OVERFIT["train_loss"], OVERFIT["val_loss"], 1, 3),
        (OVERFIT["train_loss"], OVERFIT["val_loss"], 3, 3),
        (OVERFIT["train_loss"], OVERFIT["val_loss"], 4, None),  # not enough epochs
        # a one-epoch blip at 2->3 is not an onset for patience 2; the later rise is
        ([5, 4, 3, 2, 1, 0.5, 0.2], [5, 4, 4.2, 3, 3.5, 4, 5], 2, 4),
        ([5, 4, 3, 2, 1, 0.5, 0.2], [5, 4, 4.2, 3, 3.5, 4, 5], 1, 2),
        # validation rises but train loss stops falling: underfitting noise, not overfitting
        ([5, 4, 4, 4, 4], [5, 4, 4.5, 5, 6], 2, None),
        # equal validation loss is not a rise
        ([5, 4, 3, 2], [5, 4, 4, 4], 1, None),
        # NaN breaks a run
        ([5, 4, 3, 2, 1], [5, 4, NAN, 5, 6], 2, None),
        ([1.0], [1.0], 1, None),
        ([], [], 1, None),
    ],
)
def test_onset_epoch(train_loss, val_loss, patience, expected):
    assert curves.onset_epoch(train_loss, val_loss, patience=patience) == expected


def test_onset_needs_positive_patience():
    with pytest.raises(ValueError, match="patience must be >= 1"):
        curves.onset_epoch([1, 0], [1, 2], patience=0)


def test_gap():
    assert curves.gap([1.0, 0.5], [1.0, 0.75], 2) == 0.25
    assert curves.gap([1.0, 0.5], [1.0, 0.75], 1) == 0.0
    assert curves.gap([1.0], [1.0], None) is None
    assert curves.gap([1.0], [1.0], 2) is None
    assert curves.gap([NAN], [1.0], 1) is None


def test_summary_of_a_diverged_run():
    diverged = {
        "train_loss": [2.0, 1.5, NAN],
        "val_loss": [2.1, 1.7, NAN],
        "train_metric": [0.3, 0.4, 0.1],
        "val_metric": [0.3, 0.35, 0.1],
    }
    s = curves.summarise(diverged, patience=1)
    assert s.diverged_epoch == 3
    assert s.best_epoch == 2 and s.best_val_metric == 0.35
    assert s.gap_best == pytest.approx(0.2)
    assert s.final_val_metric == 0.1  # the metric itself is finite
    assert s.gap_end is None
    assert s.onset_epoch is None


def test_diverged_epoch():
    assert curves.diverged_epoch({"train_loss": [1.0, 0.5], "val_loss": [1.0, INF]}) == 2
    assert curves.diverged_epoch({"train_loss": [NAN], "val_loss": [1.0]}) == 1
    assert curves.diverged_epoch(OVERFIT) is None
    assert curves.diverged_epoch({"train_loss": [], "val_loss": []}) is None


def test_summary_of_an_empty_run():
    s = curves.summarise({name: [] for name in curves.CURVE_NAMES}, patience=3)
    assert (s.epochs_run, s.best_epoch, s.final_val_metric, s.gap_end) == (0, None, None, None)


def test_better():
    assert curves.better(0.8, 0.5, None, None)
    assert curves.better(0.9, 9.0, 0.8, 0.1)
    assert curves.better(0.8, 0.4, 0.8, 0.5)
    assert not curves.better(0.8, 0.5, 0.8, 0.5)
    assert not curves.better(0.7, 0.1, 0.8, 0.5)
    assert not curves.better(NAN, 0.1, None, None)


def test_aggregate_literal():
    mean, std = curves.aggregate([4, 36, 45, 50, 75])
    assert mean == 42.0
    assert std == pytest.approx(math.sqrt(660.5))  # sum of squares 2642 / (5 - 1)


def test_aggregate_edge_cases():
    assert curves.aggregate([0.5]) == (0.5, 0.0)
    assert curves.aggregate([1.0, None, 3.0]) == (2.0, pytest.approx(math.sqrt(2.0)))
    assert curves.aggregate([None, None]) == (None, None)
    assert curves.aggregate([]) == (None, None)
    mean, _ = curves.aggregate([1.0, NAN])
    assert math.isnan(mean)
