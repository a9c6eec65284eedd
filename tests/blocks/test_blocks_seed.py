"""`blocks.seed` reproduces the seed's three models exactly; `blocks.compose` helpers."""
# ruff: noqa: E501  (the seed's code is kept verbatim below)

from collections import Counter

import numpy as np
import pytest

import blocks
from blocks import BLOCKS, build, cost
from blocks.compose import parallel, sequential


# The seed's code, verbatim except that each example is wrapped in a function returning its
# model and `model.summary()` is left out (shared/seed/000_e8d556956923c44e.txt).
# fmt: off
def seed_example_1():
    from tensorflow import keras

    def convolutional_block(input_tensor, filters, kernel_size=(3, 3), activation='relu'):
      """
      Creates a convolutional block with specified number of filters.
      """
      x = keras.layers.Conv2D(filters, kernel_size, activation=activation, padding='same')(input_tensor)
      x = keras.layers.BatchNormalization()(x)
      x = keras.layers.MaxPooling2D((2, 2))(x)
      return x

    # Instantiate blocks with different filter counts
    input_tensor = keras.Input(shape=(28, 28, 1))  # Example input shape

    block1 = convolutional_block(input_tensor, filters=32)
    block2 = convolutional_block(input_tensor, filters=64)
    block3 = convolutional_block(input_tensor, filters=128)

    # Concatenate the outputs of the blocks (or use other strategies)
    merged = keras.layers.concatenate([block1, block2, block3])

    # Add a final classification layer
    output = keras.layers.Dense(10, activation='softmax')(merged)  # Example 10-class classification

    model = keras.Model(inputs=input_tensor, outputs=output)
    return model


def seed_example_2():
    from tensorflow import keras

    def recurrent_block(input_tensor, units, return_sequences=True):
      """
      Creates a recurrent block (LSTM) with specified number of units.
      """
      x = keras.layers.LSTM(units, return_sequences=return_sequences)(input_tensor)
      x = keras.layers.Dropout(0.2)(x)  # Optional dropout for regularization
      return x

    # Input shape for time series data (time steps, features)
    input_tensor = keras.Input(shape=(100, 5))

    block_a = recurrent_block(input_tensor, units=32)
    block_b = recurrent_block(input_tensor, units=64)

    #Sequential application of blocks.  Alternative: concatenate outputs.
    merged = recurrent_block(block_a, units=16, return_sequences=False)
    merged = keras.layers.concatenate([merged, recurrent_block(block_b, units=16, return_sequences=False)])


    # Final dense layer
    output = keras.layers.Dense(1)(merged)  # Regression example

    model = keras.Model(inputs=input_tensor, outputs=output)
    return model


def seed_example_3():
    from tensorflow import keras

    def dense_block(input_tensor, units_list):
        """
        Creates a dense block with a variable number of layers.
        """
        x = input_tensor
        for units in units_list:
            x = keras.layers.Dense(units, activation='relu')(x)
            x = keras.layers.BatchNormalization()(x)
        return x

    # Input shape for a simple dataset
    input_tensor = keras.Input(shape=(10,))

    # Create blocks with varying depths
    block1 = dense_block(input_tensor, units_list=[32]) #single-layer block
    block2 = dense_block(input_tensor, units_list=[64, 32]) #two-layer block
    block3 = dense_block(input_tensor, units_list=[128, 64, 32]) #three-layer block

    #Combine blocks using average
    averaged = keras.layers.Average()([block1,block2, block3])
    output = keras.layers.Dense(1, activation='sigmoid')(averaged) # Binary classification example

    model = keras.Model(inputs=input_tensor, outputs=output)
    return model
# fmt: on


BLOCK_CLASSES = tuple(spec.layer for spec in BLOCKS.values())


def leaf_layer_types(model):
    """Counter of layer type names, our blocks expanded into their sublayers."""
    names = []
    for layer in model.layers:
        if isinstance(layer, BLOCK_CLASSES):
            names += [type(sub).__name__ for sub in layer.stack]
        else:
            names.append(type(layer).__name__)
    return Counter(names)


def split(model):
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    return trainable, model.count_params() - trainable


PAIRS = [
    (blocks.seed.conv_example, seed_example_1, 5386),
    (blocks.seed.recurrent_example, seed_example_2, None),
    (blocks.seed.dense_example, seed_example_3, None),
]


@pytest.mark.parametrize(("ours", "theirs", "total"), PAIRS, ids=["conv", "recurrent", "dense"])
def test_seed_models_reproduced_exactly(ours, theirs, total):
    mine, seed = ours(), theirs()
    assert mine.count_params() == seed.count_params()
    assert split(mine) == split(seed)
    assert leaf_layer_types(mine) == leaf_layer_types(seed)
    assert mine.output_shape == seed.output_shape
    if total is not None:
        assert mine.count_params() == total


def test_seed_models_params_from_closed_forms():
    conv = sum(cost.params("conv", (28, 28, 1), filters=f).total for f in (32, 64, 128))
    assert blocks.seed.conv_example().count_params() == conv + 224 * 10 + 10
    recurrent = (
        cost.params("recurrent", (100, 5), units=32).total
        + cost.params("recurrent", (100, 5), units=64).total
        + cost.params("recurrent", (100, 32), units=16, return_sequences=False).total
        + cost.params("recurrent", (100, 64), units=16, return_sequences=False).total
    )
    assert blocks.seed.recurrent_example().count_params() == recurrent + 32 + 1
    dense = sum(
        cost.params("dense", (10,), units=widths).total
        for widths in ([32], [64, 32], [128, 64, 32])
    )
    assert blocks.seed.dense_example().count_params() == dense + 32 + 1


def test_corrected_conv_example_predicts_once_per_image():
    original, corrected = blocks.seed.conv_example(), blocks.seed.conv_example_corrected()
    assert original.output_shape == (None, 14, 14, 10)
    assert corrected.output_shape == (None, 10)
    assert corrected.count_params() == original.count_params()
    probabilities = corrected(np.random.default_rng(0).random((2, 28, 28, 1), "float32"))
    np.testing.assert_allclose(np.sum(probabilities, axis=-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize(
    ("merge", "shape"), [("concat", (None, 7)), ("average", (None, 3)), ("add", (None, 3))]
)
def test_parallel_merges(merge, shape):
    import keras

    x = keras.Input(shape=(6,))
    widths = (3, 4) if merge == "concat" else (3, 3)
    y = parallel(x, [build("dense", units=w) for w in widths], merge=merge)
    assert tuple(y.shape) == shape
    model = keras.Model(x, y)
    assert model.count_params() == sum(cost.params("dense", (6,), units=w).total for w in widths)


def test_parallel_branch_lists_and_sequential():
    import keras

    x = keras.Input(shape=(5, 3))
    first, second = build("recurrent", units=4), build("recurrent", units=2, return_sequences=False)
    y = sequential(x, [first, second])
    assert tuple(y.shape) == (None, 2)
    branches = [
        [build("recurrent", units=4), build("recurrent", units=2, return_sequences=False)],
        [build("recurrent", units=3, return_sequences=False), build("dense", units=[3, 2])],
    ]
    z = parallel(x, branches, merge="concat")
    assert tuple(z.shape) == (None, 4)
    assert tuple(parallel(x, branches[:1]).shape) == (None, 2)  # one branch: no merge layer
