"""Datasets: deterministic stratified splits, views per input rank, label corruption,
and the checks that refuse a dataset a block cannot take."""

import numpy as np
import pytest

import blocks
from bench.data import datasets
from bench.data.datasets import DATASETS

SIZES = {"digits": (1077, 360, 360), "breast_cancer": (341, 114, 114), "sines": (720, 240, 240)}
VIEWS = [(name, rank) for name, spec in DATASETS.items() for rank in spec.ranks]


@pytest.mark.parametrize("name", DATASETS)
def test_split_sizes_are_60_20_20(name):
    split = datasets.load(name, rank=DATASETS[name].ranks[0])
    sizes = (len(split.y_train), len(split.y_val), len(split.y_test))
    assert sizes == SIZES[name]
    assert sum(sizes) == DATASETS[name].num_samples
    assert split.train_size == SIZES[name][0]


@pytest.mark.parametrize("name", DATASETS)
def test_split_is_deterministic(name):
    rank = DATASETS[name].ranks[0]
    datasets._scaled_parts.cache_clear()  # really split again, not the cached arrays
    first = datasets.load(name, rank=rank)
    datasets._scaled_parts.cache_clear()
    second = datasets.load(name, rank=rank)
    for part in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(first, part), getattr(second, part))


@pytest.mark.parametrize("name", DATASETS)
def test_split_is_stratified(name):
    split = datasets.load(name, rank=DATASETS[name].ranks[0])
    everything = np.concatenate([split.y_train, split.y_val, split.y_test])
    share = np.bincount(everything) / len(everything)
    for labels in (split.y_train, split.y_val, split.y_test):
        counts = np.bincount(labels, minlength=split.num_classes)
        assert np.all(np.abs(counts - share * len(labels)) <= 1.0)


def test_split_parts_are_disjoint():
    split = datasets.load("sines", rank=1)  # continuous values: no duplicate rows
    rows = [{r.tobytes() for r in x} for x in (split.x_train, split.x_val, split.x_test)]
    assert sum(len(r) for r in rows) == len(set().union(*rows)) == 1200


@pytest.mark.parametrize("name", DATASETS)
def test_scaler_is_fitted_on_train_only(name):
    split = datasets.load(name, rank=1)
    axis = 0 if DATASETS[name].scaling == "per_feature" else None
    np.testing.assert_allclose(split.x_train.mean(axis=axis), 0.0, atol=1e-5)
    std = split.x_train.std(axis=axis)
    np.testing.assert_allclose(std[std > 0] if axis == 0 else std, 1.0, atol=1e-4)
    assert abs(float(split.x_val.mean())) > 1e-6  # validation statistics were not used


@pytest.mark.parametrize("name,rank", VIEWS)
def test_view_shapes(name, rank):
    split = datasets.load(name, rank=rank)
    shape = DATASETS[name].shapes[rank]
    assert len(shape) == rank and split.input_shape == shape
    for x, (n) in ((split.x_train, 0), (split.x_val, 1), (split.x_test, 2)):
        assert x.shape == (SIZES[name][n], *shape)
        assert x.dtype == np.float32
    assert split.y_train.dtype == np.int64
    assert split.num_classes == DATASETS[name].num_classes
    assert set(np.unique(split.y_test)) == set(range(split.num_classes))


def test_digits_views_hold_the_same_pixels():
    flat = datasets.load("digits", rank=1).x_train
    assert datasets.load("digits", rank=1).input_shape == (64,)
    assert datasets.load("digits", rank=2).input_shape == (8, 8)
    np.testing.assert_array_equal(datasets.load("digits", rank=3).x_train.reshape(-1, 64), flat)
    np.testing.assert_array_equal(datasets.load("digits", rank=2).x_train.reshape(-1, 64), flat)


def test_loaded_arrays_are_fresh_copies():
    split = datasets.load("digits", rank=1)
    split.x_train[:] = 0.0
    assert datasets.load("digits", rank=1).x_train.any()


def test_load_refuses_a_missing_view():
    with pytest.raises(ValueError, match=r"dataset 'breast_cancer' has no rank-3 view"):
        datasets.load("breast_cancer", rank=3)
    with pytest.raises(ValueError, match=r"unknown dataset 'mnist'; known: digits"):
        datasets.load("mnist", rank=3)


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.5, 1.0])
def test_label_noise_changes_exactly_round_fraction(name, fraction):
    rank = DATASETS[name].ranks[0]
    clean = datasets.load(name, rank=rank)
    noisy = datasets.load(name, rank=rank, label_noise=fraction, seed=3)
    changed = noisy.y_train != clean.y_train  # a changed label is never its old class
    assert changed.sum() == round(fraction * clean.train_size)
    assert noisy.y_train.min() >= 0 and noisy.y_train.max() < clean.num_classes
    np.testing.assert_array_equal(noisy.x_train, clean.x_train)
    np.testing.assert_array_equal(noisy.y_val, clean.y_val)
    np.testing.assert_array_equal(noisy.y_test, clean.y_test)


def test_label_noise_is_deterministic_per_seed():
    first = datasets.load("digits", rank=1, label_noise=0.2, seed=5).y_train
    again = datasets.load("digits", rank=1, label_noise=0.2, seed=5).y_train
    other = datasets.load("digits", rank=1, label_noise=0.2, seed=6).y_train
    np.testing.assert_array_equal(first, again)
    assert (first != other).any()


def test_label_noise_moves_to_every_other_class():
    labels = np.zeros(3000, dtype=np.int64)
    noisy = datasets.corrupt_labels(labels, 4, label_noise=1.0, seed=0)
    assert set(np.unique(noisy)) == {1, 2, 3}  # never 0, all others reachable
    assert np.all(np.abs(np.bincount(noisy)[1:] - 1000) < 100)


def test_label_noise_literal():
    labels = np.array([0, 1, 2, 0, 1, 2])
    noisy = datasets.corrupt_labels(labels, 3, label_noise=0.5, seed=0)
    assert noisy.tolist() == [0, 1, 0, 1, 0, 2]
    assert labels.tolist() == [0, 1, 2, 0, 1, 2]  # the input is not modified


def test_random_labels():
    clean = datasets.load("digits", rank=1)
    first = datasets.load("digits", rank=1, random_labels=True, seed=1)
    again = datasets.load("digits", rank=1, random_labels=True, seed=1)
    np.testing.assert_array_equal(first.y_train, again.y_train)
    assert set(np.unique(first.y_train)) == set(range(10))
    agree = float(np.mean(first.y_train == clean.y_train))
    assert 0.05 < agree < 0.16  # chance is 1/10
    np.testing.assert_array_equal(first.y_val, clean.y_val)
    np.testing.assert_array_equal(first.y_test, clean.y_test)


@pytest.mark.parametrize(
    "label_noise,random_labels,message",
    [
        (1.5, False, r"label_noise must be a fraction in \[0, 1\], got 1.5"),
        (-0.1, False, r"label_noise must be a fraction in \[0, 1\]"),
        (0.2, True, r"random_labels replaces every training label"),
    ],
)
def test_label_settings_are_checked(label_noise, random_labels, message):
    with pytest.raises(ValueError, match=message):
        datasets.load("digits", rank=1, label_noise=label_noise, random_labels=random_labels)
    with pytest.raises(ValueError, match=message):
        datasets.check(
            "digits", "dense", {"units": 4}, label_noise=label_noise, random_labels=random_labels
        )


def test_sines_signal_is_as_documented():
    x, y = datasets.sines()
    assert x.shape == (1200, 32)
    assert np.bincount(y).tolist() == [300, 300, 300, 300]
    np.testing.assert_array_equal(datasets.sines()[0], x)  # fixed generator seed
    magnitude = np.abs(np.fft.rfft(x, axis=1))[:, list(datasets.SINES_CYCLES)]
    oracle = float(np.mean(np.argmax(magnitude, axis=1) == y))
    assert 0.9 < oracle < 1.0  # "about 96%": learnable, not trivial


# --- check and input_shape: what a block can take, refused before training ---------------


@pytest.mark.parametrize(
    "name,block,message",
    [
        (
            "breast_cancer",
            "conv",
            "dataset 'breast_cancer' is tabular (rank 1); block 'conv' needs images (rank 3): "
            "use dataset 'digits'",
        ),
        (
            "breast_cancer",
            "recurrent",
            "dataset 'breast_cancer' is tabular (rank 1); block 'recurrent' needs sequences "
            "(rank 2): use dataset 'digits' or 'sines'",
        ),
        (
            "sines",
            "residual",
            "dataset 'sines' is time series (ranks 1, 2); block 'residual' needs images "
            "(rank 3): use dataset 'digits'",
        ),
        (
            "breast_cancer",
            "transformer",
            "dataset 'breast_cancer' is tabular (rank 1); block 'transformer' needs sequences "
            "(rank 2): use dataset 'digits' or 'sines'",
        ),
    ],
)
def test_check_refuses_a_dataset_of_the_wrong_rank(name, block, message):
    knobs = _small_knobs(block)
    with pytest.raises(ValueError) as error:
        datasets.check(name, block, knobs)
    assert str(error.value) == message
    with pytest.raises(ValueError) as error:
        datasets.input_shape(name, block)
    assert str(error.value) == message


def test_check_refuses_unknown_names():
    with pytest.raises(ValueError, match=r"unknown dataset 'mnist'; known: digits, "):
        datasets.check("mnist", "dense", {"units": 4})
    with pytest.raises(ValueError, match=r"unknown block 'mlp'; known: .*dense"):
        datasets.check("digits", "mlp", {"units": 4})


def test_check_passes_on_block_errors_with_the_dataset_named():
    with pytest.raises(
        ValueError,
        match=r"block 'conv' does not fit dataset 'digits' "
        r"\(input \(8, 8, 1\)\): .*pool",
    ):
        datasets.check("digits", "conv", {"filters": 4, "depth": 4})
    with pytest.raises(ValueError, match=r"does not fit dataset 'digits'.*units"):
        datasets.check("digits", "dense", {"units": 0})


@pytest.mark.parametrize(
    "name,block,shape",
    [
        ("digits", "dense", (64,)),
        ("digits", "conv", (8, 8, 1)),
        ("digits", "residual", (8, 8, 1)),
        ("digits", "recurrent", (8, 8)),
        ("digits", "transformer", (8, 8)),
        ("breast_cancer", "dense", (30,)),
        ("sines", "recurrent", (32, 1)),
        ("sines", "dense", (32,)),
    ],
)
def test_input_shape_per_block(name, block, shape):
    assert datasets.input_shape(name, block) == shape


@pytest.mark.parametrize("block", sorted(blocks.BLOCKS))
@pytest.mark.parametrize("name", DATASETS)
def test_check_walks_the_registry(name, block):
    """Every block on every dataset: accepted with its input shape, or refused by rank."""
    rank = blocks.BLOCKS[block].input_rank
    if rank in DATASETS[name].shapes:
        assert datasets.check(name, block, _small_knobs(block)) == DATASETS[name].shapes[rank]
    else:
        with pytest.raises(ValueError, match=rf"block '{block}' needs .* \(rank {rank}\)"):
            datasets.check(name, block, _small_knobs(block))


def _small_knobs(block):
    """The first small value of every knob the registry lists for ``block``."""
    return {knob: values[0] for knob, values in blocks.BLOCKS[block].small_knobs.items()}
