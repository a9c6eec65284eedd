"""Each build makes new weights; reusing one built object shares exactly its weights."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from blocks import BLOCKS, build, cost


def case(name):
    """The small case of a block with the most parameters."""
    return max(BLOCKS[name].small_cases(), key=lambda c: cost.params(name, c[0], **c[1]).total)


def sample(shape, batch=4, seed=0):
    return np.random.default_rng(seed).standard_normal((batch, *shape), dtype=np.float32)


def train_steps(layer, x, steps=3):
    optimizer = keras.optimizers.SGD(learning_rate=0.1)
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = keras.ops.mean(keras.ops.square(layer(x, training=True) - 1.0))
        gradients = tape.gradient(loss, layer.trainable_weights)
        assert all(g is not None for g in gradients)
        optimizer.apply(gradients, layer.trainable_weights)


@pytest.mark.parametrize("name", list(BLOCKS))
def test_two_builds_share_no_variable_and_train_apart(name):
    shape, knobs = case(name)
    x = sample(shape)
    first, second = build(name, **knobs), build(name, **knobs)
    first(x), second(x)
    assert first.weights and len(first.weights) == len(second.weights)
    assert not {id(v) for v in first.weights} & {id(v) for v in second.weights}
    assert not {v.path for v in first.weights} & {v.path for v in second.weights}
    assert not {id(v.value) for v in first.weights} & {id(v.value) for v in second.weights}

    first_before = [np.array(v) for v in first.trainable_weights]
    second_before = [np.array(v) for v in second.weights]
    train_steps(first, x)
    assert any(
        not np.array_equal(before, np.array(v))
        for before, v in zip(first_before, first.trainable_weights, strict=True)
    )
    for before, v in zip(second_before, second.weights, strict=True):
        np.testing.assert_array_equal(before, np.array(v))


@pytest.mark.parametrize("name", list(BLOCKS))
def test_one_object_called_twice_shares_exactly_its_variables(name):
    shape, knobs = case(name)
    layer = build(name, **knobs)
    left, right = keras.Input(shape=shape), keras.Input(shape=shape)
    model = keras.Model([left, right], [layer(left), layer(right)])
    assert {id(v) for v in model.weights} == {id(v) for v in layer.weights}
    assert len(model.weights) == len(layer.weights)
    assert model.count_params() == cost.params(name, shape, **knobs).total
    x = sample(shape)
    out_left, out_right = model([x, x], training=False)
    np.testing.assert_array_equal(np.array(out_left), np.array(out_right))


@pytest.mark.parametrize("name", list(BLOCKS))
def test_two_builds_in_one_model_are_two_copies(name):
    shape, knobs = case(name)
    inputs = keras.Input(shape=shape)
    model = keras.Model(inputs, [build(name, **knobs)(inputs), build(name, **knobs)(inputs)])
    assert model.count_params() == 2 * cost.params(name, shape, **knobs).total
