"""Real (tiny) fits: the record, stopping rules, determinism per seed, divergence,
refusals, and the traced loop against ``model.fit``."""

import math

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework import config as tf_config

import blocks
from bench.data import datasets
from bench.fit import speed, train
from bench.fit.train import run_fit_cell
from bench.measure.model import head_params
from bench.spec.cell import Cell, FitSettings


def fit_cell(block="dense", knobs=(("units", 8),), dataset="digits", batch_size=64, **fit):
    settings = FitSettings(dataset, **{"epochs": 3, **fit})
    shape = datasets.input_shape(dataset, block)
    return Cell(block, knobs, shape, batch_size, "fit", fit=settings)


@pytest.fixture(autouse=True)
def keep_op_determinism():
    """These tests set process-wide op determinism; leave it as other test files found it."""
    before = tf_config.is_op_determinism_enabled()
    yield
    if before:
        tf.config.experimental.enable_op_determinism()
    else:
        tf_config.disable_op_determinism()


@pytest.fixture(scope="module")
def tiny():
    """Dense units=8 on digits, 3 epochs, batch 64, 20% label noise."""
    return run_fit_cell(fit_cell(label_noise=0.2))


def test_tiny_fit_records_curves_at_eval_epochs(tiny):
    assert tiny.epochs_run == 3 and tiny.stopped == "epochs"
    assert tiny.curves["epoch"] == [1.0, 2.0, 3.0]
    names = {"epoch", *train.EPOCH_COLUMNS}
    assert set(tiny.curves) == names
    assert all(len(v) == 3 for v in tiny.curves.values())
    assert tiny.final_test_error == tiny.curves["test_error"][-1]
    best = tiny.best_epoch
    assert tiny.best_test_error == tiny.curves["test_error"][best - 1]
    assert tiny.test_metric == pytest.approx(1 - tiny.best_test_error)
    val = tiny.curves["val_error"]
    assert val[best - 1] == min(val)
    # 20% of the labels are wrong: the model fits the clean labels better than the noisy
    noisy, clean = tiny.curves["train_error_noisy"][-1], tiny.curves["train_error_clean"][-1]
    assert noisy > clean
    assert tiny.curves["train_loss"][0] > tiny.curves["train_loss"][-1]  # it learns
    assert tiny.interpolation_epoch is None and tiny.train_size == 1077


def test_params_match_the_closed_form(tiny):
    block = blocks.cost.params("dense", (64,), units=8).total
    assert tiny.params == block + head_params(8, 10)


def test_same_seed_same_curves(tiny):
    again = run_fit_cell(fit_cell(label_noise=0.2))
    for name, values in tiny.curves.items():
        assert again.curves[name] == pytest.approx(values, abs=1e-6), name
    other = run_fit_cell(fit_cell(label_noise=0.2, seed=1))
    assert other.curves["train_loss"] != pytest.approx(tiny.curves["train_loss"], abs=1e-4)


def test_until_interpolation_stops_there():
    cell = fit_cell(knobs=(("units", 64),), until="interpolation", epsilon=0.3, epochs=40)
    result = run_fit_cell(cell)
    assert result.stopped == "interpolation"
    assert result.interpolation_epoch == result.epochs_run < 40
    assert result.final_train_error <= 0.3 < result.curves["train_error_noisy"][0]


def test_until_interpolation_records_the_cap():
    cell = fit_cell(knobs=(("units", 2),), until="interpolation", epsilon=0.01, epochs=2)
    result = run_fit_cell(cell)
    assert (result.stopped, result.epochs_run, result.interpolation_epoch) == (
        "max_epochs",
        2,
        None,
    )


def test_random_labels_record_memorisation():
    result = run_fit_cell(fit_cell(random_labels=True, epochs=2))
    assert result.memorisation == pytest.approx(1 - result.final_train_error)
    assert result.final_train_error_clean > 0.5  # random labels: clean labels not learnt


def test_divergence_is_recorded_not_raised():
    result = run_fit_cell(fit_cell(learning_rate=1e30, epochs=5))
    assert result.stopped == "diverged"
    assert result.epochs_run == result.diverged_epoch < 5
    assert result.gap_end is None and result.final_test_error is None


def test_fast_path_matches_model_fit():
    """Same seeds, 6 epochs: validation and test error of the traced loop lie within the
    seed-to-seed spread of model.fit's (plus a small margin), and vice versa."""
    fast, reference = [], []
    for seed in (0, 1):
        cell = fit_cell(knobs=(("units", 16),), epochs=6, seed=seed, label_noise=0.2)
        split = speed.load_split(cell)
        with train._op_determinism(True):
            fast.append(train.train_epochs(cell, split)[1][-1])
        reference.append(speed.fit_reference(cell, split)[0][-1])
    fast, reference = np.array(fast), np.array(reference)
    columns = [
        train.EPOCH_COLUMNS.index(c) for c in ("train_error_noisy", "val_error", "test_error")
    ]
    for column in columns:
        spread = max(np.ptp(fast[:, column]), np.ptp(reference[:, column]))
        gap = abs(fast[:, column].mean() - reference[:, column].mean())
        assert gap <= spread + 0.03, train.EPOCH_COLUMNS[column]


@pytest.mark.parametrize(
    "block,knobs,dataset",
    [("conv", (("filters", 4),), "digits"), ("recurrent", (("units", 4),), "sines")],
)
def test_other_views_fit(block, knobs, dataset):
    result = run_fit_cell(fit_cell(block, knobs, dataset, epochs=1, batch_size=128))
    assert result.epochs_run == 1 and result.diverged_epoch is None
    assert all(v[0] is not None and math.isfinite(v[0]) for v in result.curves.values())
    assert result.train_size == {"digits": 1077, "sines": 720}[dataset]


def test_refuses_before_training():
    wrong_rank = Cell(
        "conv", (("filters", 4),), (30,), 64, "fit", fit=FitSettings("breast_cancer", epochs=1)
    )
    with pytest.raises(ValueError, match=r"block 'conv' needs images \(rank 3\)"):
        run_fit_cell(wrong_rank)
    timing = Cell("dense", (("units", 8),), (64,), 64, "train")
    with pytest.raises(ValueError, match=r"needs a pass='fit' cell"):
        run_fit_cell(timing)
    mismatch = Cell("dense", (("units", 8),), (30,), 64, "fit", fit=FitSettings("digits", epochs=1))
    with pytest.raises(ValueError, match=r"cell input_shape \(30,\) is not dataset 'digits'"):
        run_fit_cell(mismatch)
    with pytest.raises(ValueError, match=r"epsilon = 1.0: expected a fraction in \(0, 1\)"):
        run_fit_cell(fit_cell(until="interpolation", epsilon=1.0))
    with pytest.raises(ValueError, match=r"until = 'never'"):
        run_fit_cell(fit_cell(until="never"))


def test_xla_fit_runs_and_restores_op_determinism():
    tf.config.experimental.enable_op_determinism()  # as another cell may have left it
    settings = FitSettings("digits", epochs=1)
    cell = Cell("dense", (("units", 4),), (64,), 256, "fit", xla=True, fit=settings)
    result = run_fit_cell(cell)
    assert result.epochs_run == 1 and result.final_test_error is not None
    assert tf_config.is_op_determinism_enabled()  # restored


def test_op_determinism_is_restored_after_the_cell():
    """Left on, it would make Keras drop jit_compile for later timing cells of a worker."""
    tf_config.disable_op_determinism()
    run_fit_cell(fit_cell(epochs=1, batch_size=256))
    assert not tf_config.is_op_determinism_enabled()
