"""The seed's three example models, rebuilt from registered blocks.

The seed (``shared/seed/000_e8d556956923c44e.txt``) builds three small functional models to
show that separately constructed blocks have separate weights. These functions reproduce
them exactly (same layers, same parameter totals), and `conv_example_corrected` fixes the
first one's classifier head.
"""

from __future__ import annotations

import keras

from blocks.compose import parallel
from blocks.registry import build


def conv_example() -> keras.Model:
    """The seed's Example 1, exactly: three conv blocks (32, 64, 128 filters) concatenated.

    As in the seed, ``Dense(10, softmax)`` is applied to the 4-D ``(14, 14, 224)`` feature
    map, so the output is a 14x14 map of class scores (one softmax per pixel), not one
    prediction per image; see `conv_example_corrected`. 5,386 parameters.

    >>> conv_example().output_shape
    (None, 14, 14, 10)
    """
    inputs = keras.Input(shape=(28, 28, 1))
    merged = parallel(inputs, [build("conv", filters=f) for f in (32, 64, 128)], merge="concat")
    outputs = keras.layers.Dense(10, activation="softmax")(merged)
    return keras.Model(inputs=inputs, outputs=outputs, name="conv_example")


def conv_example_corrected() -> keras.Model:
    """Example 1 with ``GlobalAveragePooling2D`` before ``Dense(10)``: one prediction per image.

    Pooling adds no parameters, so the total equals `conv_example`'s; only the output shape
    (and what it means) changes: ``(None, 10)`` instead of ``(None, 14, 14, 10)``.

    >>> conv_example_corrected().output_shape
    (None, 10)
    """
    inputs = keras.Input(shape=(28, 28, 1))
    merged = parallel(inputs, [build("conv", filters=f) for f in (32, 64, 128)], merge="concat")
    pooled = keras.layers.GlobalAveragePooling2D()(merged)
    outputs = keras.layers.Dense(10, activation="softmax")(pooled)
    return keras.Model(inputs=inputs, outputs=outputs, name="conv_example_corrected")


def recurrent_example() -> keras.Model:
    """The seed's Example 2, exactly: LSTM(32) and LSTM(64) branches, each into an LSTM(16).

    Every recurrent block is ``LSTM -> Dropout(0.2)``; the heads return only their last
    state; ``Dense(1)`` regresses on the concatenation.

    >>> recurrent_example().output_shape
    (None, 1)
    """
    inputs = keras.Input(shape=(100, 5))
    merged = parallel(
        inputs,
        [
            [build("recurrent", units=32), build("recurrent", units=16, return_sequences=False)],
            [build("recurrent", units=64), build("recurrent", units=16, return_sequences=False)],
        ],
        merge="concat",
    )
    outputs = keras.layers.Dense(1)(merged)
    return keras.Model(inputs=inputs, outputs=outputs, name="recurrent_example")


def dense_example() -> keras.Model:
    """The seed's Example 3, exactly: dense blocks [32], [64, 32], [128, 64, 32] averaged.

    >>> dense_example().output_shape
    (None, 1)
    """
    inputs = keras.Input(shape=(10,))
    averaged = parallel(
        inputs,
        [build("dense", units=widths) for widths in ([32], [64, 32], [128, 64, 32])],
        merge="average",
    )
    outputs = keras.layers.Dense(1, activation="sigmoid")(averaged)
    return keras.Model(inputs=inputs, outputs=outputs, name="dense_example")
