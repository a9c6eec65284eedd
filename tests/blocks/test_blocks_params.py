"""`cost.params` equals Keras `count_params()` and its trainable split, on random configs."""

import math

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from blocks import BLOCKS, REQUIRED, build, cost, validate

OMIT = object()


def knob_strategy(spec):
    """Draw each optional knob from its small values or leave it out; required ones always."""
    fields = {
        knob: st.sampled_from(values if spec.defaults[knob] is REQUIRED else (OMIT, *values))
        for knob, values in spec.small_knobs.items()
    }
    return st.fixed_dictionaries(fields).map(
        lambda drawn: {k: v for k, v in drawn.items() if v is not OMIT}
    )


def keras_counts(layer):
    trainable = sum(math.prod(v.shape) for v in layer.trainable_weights)
    non_trainable = sum(math.prod(v.shape) for v in layer.non_trainable_weights)
    return trainable, non_trainable


@pytest.mark.parametrize("name", list(BLOCKS))
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
@given(data=st.data())
def test_params_equal_keras_on_random_configs(name, data):
    spec = BLOCKS[name]
    shape = data.draw(st.tuples(*[st.integers(1, 8)] * spec.input_rank), label="input_shape")
    knobs = data.draw(knob_strategy(spec), label="knobs")
    try:
        validate(name, shape, **knobs)
    except ValueError:
        assume(False)
    layer = build(name, **knobs)
    layer.build((None, *shape))
    expected = cost.params(name, shape, **knobs)
    assert keras_counts(layer) == (expected.trainable, expected.non_trainable)
    assert layer.count_params() == expected.total


@pytest.mark.parametrize(
    ("name", "shape", "knobs", "trainable", "non_trainable"),
    [
        ("conv", (28, 28, 1), {"filters": 32}, 9 * 32 + 32 + 64, 64),
        ("recurrent", (100, 5), {"units": 32}, 4 * (5 * 32 + 32 * 32 + 32), 0),
        ("recurrent", (100, 5), {"units": 32, "cell": "gru"}, 3 * (5 * 32 + 32 * 32 + 2 * 32), 0),
        ("recurrent", (100, 5), {"units": 32, "cell": "simple_rnn"}, 5 * 32 + 32 * 32 + 32, 0),
        ("dense", (10,), {"units": [64, 32]}, 10 * 64 + 64 + 128 + 64 * 32 + 32 + 64, 128 + 64),
        ("residual", (8, 8, 3), {"filters": 4}, 9 * 3 * 4 + 9 * 16 + 3 * 4 + 3 * 8, 3 * 8),
        ("residual", (8, 8, 4), {"filters": 4}, 9 * 16 * 2 + 2 * 8, 2 * 8),
        ("transformer", (10, 8), {"units": 8}, 4 * 72 + 32 + 8 * 32 + 32 + 32 * 8 + 8, 0),
        (
            "transformer",
            (10, 5),
            {"units": 8},
            5 * 8 + 8 + 4 * 72 + 32 + 8 * 32 + 32 + 32 * 8 + 8,
            0,
        ),
    ],
)
def test_params_literal_values(name, shape, knobs, trainable, non_trainable):
    counted = cost.params(name, shape, **knobs)
    assert (counted.trainable, counted.non_trainable) == (trainable, non_trainable)
    layer = build(name, **knobs)
    layer.build((None, *shape))
    assert keras_counts(layer) == (trainable, non_trainable)
