"""Real (tiny) fits: the record, determinism per seed, divergence, refusals."""

import math

import pytest
import tensorflow as tf
from tensorflow.python.framework import config as tf_config

import blocks
from bench.data import datasets
from bench.fit.train import run_fit_cell
from bench.measure.model import head_params
from bench.results.records import FitResult
from bench.spec.cell import Cell, FitSettings


def fit_cell(block="dense", knobs=(("units", 8),), dataset="digits", batch_size=64, **fit):
    settings = FitSettings(dataset, **{"epochs": 2, **fit})
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
    """Dense units=8 on digits, 2 epochs, batch 64 (shared by the tests that read it)."""
    return run_fit_cell(fit_cell())


def test_tiny_fit_returns_a_full_record(tiny):
    assert isinstance(tiny, FitResult)
    assert tiny.metric == "accuracy"
    assert tiny.epochs_run == 2
    assert set(tiny.curves) == {"train_loss", "val_loss", "train_metric", "val_metric"}
    for values in tiny.curves.values():
        assert len(values) == 2 and all(math.isfinite(v) for v in values)
    assert tiny.train_size == 1077
    assert tiny.diverged_epoch is None
    assert tiny.memorisation is None  # clean labels
    assert tiny.best_epoch in (1, 2)
    assert tiny.best_val_metric == tiny.curves["val_metric"][tiny.best_epoch - 1]
    assert tiny.final_val_metric == tiny.curves["val_metric"][-1]
    assert 0.0 <= tiny.test_metric <= 1.0
    end_gap = tiny.curves["val_loss"][-1] - tiny.curves["train_loss"][-1]
    assert tiny.gap_end == pytest.approx(end_gap)
    assert tiny.fit_wall_s > 0


def test_params_match_the_closed_form(tiny):
    block = blocks.cost.params("dense", (64,), units=8).total
    assert tiny.params == block + head_params(8, 10)


def test_same_seed_same_curves(tiny):
    again = run_fit_cell(fit_cell())
    for name, values in tiny.curves.items():
        assert again.curves[name] == pytest.approx(values, abs=1e-6), name
    assert again.test_metric == pytest.approx(tiny.test_metric, abs=1e-6)
    assert again.best_epoch == tiny.best_epoch
    other = run_fit_cell(fit_cell(seed=1))
    assert other.curves["train_loss"] != pytest.approx(tiny.curves["train_loss"], abs=1e-6)


def test_random_labels_record_memorisation():
    result = run_fit_cell(fit_cell(random_labels=True, epochs=1))
    assert 0.0 <= result.memorisation <= 1.0
    assert result.epochs_run == 1


def test_divergence_is_recorded_not_raised():
    result = run_fit_cell(fit_cell(learning_rate=1e30, epochs=3))
    assert result.diverged_epoch is not None
    assert result.epochs_run == result.diverged_epoch  # training stopped there
    assert all(len(v) == result.epochs_run for v in result.curves.values())
    last = result.diverged_epoch - 1
    assert not (
        math.isfinite(result.curves["train_loss"][last])
        and math.isfinite(result.curves["val_loss"][last])
    )
    assert result.gap_end is None


@pytest.mark.parametrize(
    "block,knobs,dataset,shape",
    [
        ("conv", (("filters", 4),), "digits", (8, 8, 1)),
        ("recurrent", (("units", 4),), "sines", (32, 1)),
    ],
)
def test_other_views_fit(block, knobs, dataset, shape):
    result = run_fit_cell(fit_cell(block, knobs, dataset, epochs=1, batch_size=128))
    assert result.epochs_run == 1 and result.diverged_epoch is None
    assert all(math.isfinite(v[0]) for v in result.curves.values())
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


def test_xla_fit_really_compiles():
    """Keras drops jit_compile under op determinism: an XLA cell must turn it off, or
    run_fit_cell raises instead of recording a non-XLA run as XLA."""
    tf.config.experimental.enable_op_determinism()  # as another cell may have left it
    settings = FitSettings("digits", epochs=1)
    cell = Cell("dense", (("units", 4),), (64,), 256, "fit", xla=True, fit=settings)
    result = run_fit_cell(cell)
    assert result.epochs_run == 1
    assert all(math.isfinite(v[0]) for v in result.curves.values())
    assert tf_config.is_op_determinism_enabled()  # restored


def test_op_determinism_is_restored_after_the_cell():
    """Left on, it would make Keras drop jit_compile for later timing cells of a worker."""
    tf_config.disable_op_determinism()
    run_fit_cell(fit_cell(epochs=1, batch_size=256))
    assert not tf_config.is_op_determinism_enabled()
