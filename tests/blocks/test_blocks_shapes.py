"""Output shapes agree between the closed form, Keras, and a real forward pass; no NaNs."""

import keras
import numpy as np
import pytest

from blocks import BLOCKS, build, cost, output_shape

CASES = [
    (name, shape, knobs) for name, spec in BLOCKS.items() for shape, knobs in spec.small_cases()
]
IDS = [f"{name}-{index}" for index, (name, _, _) in enumerate(CASES)]


@pytest.mark.parametrize(("name", "shape", "knobs"), CASES, ids=IDS)
def test_output_shape_matches_keras_and_values_are_finite(name, shape, knobs):
    expected = output_shape(name, shape, **knobs)
    layer = build(name, **knobs)
    assert layer.compute_output_shape((None, *shape)) == (None, *expected)
    symbolic = layer(keras.Input(shape=shape))
    assert tuple(symbolic.shape) == (None, *expected)
    x = np.random.default_rng(0).random((2, *shape), dtype=np.float32)
    for training in (False, True):
        y = np.array(layer(x, training=training))
        assert y.shape == (2, *expected)
        assert np.all(np.isfinite(y))


@pytest.mark.parametrize(
    ("name", "shape", "knobs", "expected"),
    [
        ("conv", (28, 28, 1), {"filters": 32, "depth": 2}, (7, 7, 32)),
        ("conv", (7, 5, 1), {"filters": 3, "depth": 2}, (1, 1, 3)),
        ("conv", (7, 5, 1), {"filters": 3, "depth": 2, "pool": False}, (7, 5, 3)),
        ("recurrent", (100, 5), {"units": 16, "return_sequences": False}, (16,)),
        ("recurrent", (100, 5), {"units": 16, "depth": 3}, (100, 16)),
        ("recurrent", (None, 5), {"units": 16}, (None, 16)),
        ("dense", (10,), {"units": [128, 64, 32]}, (32,)),
        ("residual", (8, 6, 3), {"filters": 16, "depth": 2}, (8, 6, 16)),
        ("transformer", (10, 5), {"units": 8, "heads": 2}, (10, 8)),
    ],
)
def test_output_shape_literal_values(name, shape, knobs, expected):
    assert output_shape(name, shape, **knobs) == expected


@pytest.mark.parametrize(("name", "shape", "knobs"), CASES, ids=IDS)
def test_activations_cover_the_output_and_grow_with_capacity(name, shape, knobs):
    kept = cost.activations(name, shape, **knobs)
    assert isinstance(kept, int)
    assert kept >= int(np.prod(output_shape(name, shape, **knobs)))
    spec = BLOCKS[name]
    knob = spec.capacity_knobs[0]
    resolved = spec.resolve(knobs, shape)
    if isinstance(resolved[knob], int):
        bigger = {**knobs, knob: 2 * resolved[knob]}
        if name == "transformer":
            bigger["heads"] = resolved["heads"]  # 2*units stays divisible by heads
        assert cost.activations(name, shape, **bigger) > kept


@pytest.mark.parametrize(
    ("name", "shape", "knobs", "expected"),
    [
        ("conv", (4, 4, 1), {"filters": 2}, 32 + 32 + 8),  # conv, BN, pool outputs
        ("dense", (10,), {"units": [8, 4]}, 8 + 8 + 4 + 4),
        ("residual", (2, 2, 3), {"filters": 2}, 9 * 8),  # 7 outputs + projection conv, BN
        ("recurrent", (3, 2), {"units": 4}, 3 * 7 * 4 + 12 + 12),  # steps, output, dropout
        ("transformer", (2, 4), {"units": 4, "heads": 2}, 10 * 8 + 2 * 2 * 4 + 2 * 16),
    ],
)
def test_activations_literal_values(name, shape, knobs, expected):
    assert cost.activations(name, shape, **knobs) == expected


@pytest.mark.parametrize(
    ("name", "shape", "knobs"),
    [
        ("conv", (4, 4, 1), {"filters": 2}),
        ("recurrent", (3, 2), {"units": 4, "dropout": 0.5}),
        ("transformer", (3, 4), {"units": 4, "heads": 2, "dropout": 0.5}),
    ],
)
def test_training_flag_reaches_batch_norm_and_dropout(name, shape, knobs):
    layer = build(name, **knobs)
    x = np.random.default_rng(0).random((4, *shape), dtype=np.float32)
    inference = np.array(layer(x, training=False))
    np.testing.assert_array_equal(inference, np.array(layer(x, training=False)))
    assert not np.allclose(inference, np.array(layer(x, training=True)))
