"""The reference workload's model (`bench.spec.reference`): plain Keras layers, fixed.

Two 3x3 convolutions (16 filters, ReLU) on a 16x16x8 input, global average pooling, two
``Dense(256, relu)`` and the 10-way logits: a mix of convolution and matmul, about
1 ms per forward step and 4 ms per train step at batch 32 on this VM, between the
quick preset's cells. It is built here, not from ``blocks/``, so that no change to the
block library moves it; bump `bench.spec.reference.VERSION` whenever it changes.

>>> model_costs()
(76202, 76202, 1935370)
"""

from __future__ import annotations

import keras

from bench.spec.reference import INPUT_SHAPE

FILTERS = 16
KERNEL = 3
WIDTH = 256
CLASSES = 10


def build(*, batch_size: int | None = None, num_classes: int = CLASSES) -> keras.Model:
    """A new reference model (fresh weights); ``batch_size`` pins the batch axis."""
    inputs = keras.Input(shape=INPUT_SHAPE, batch_size=batch_size, name="inputs")
    x = inputs
    for index in range(2):
        x = keras.layers.Conv2D(FILTERS, KERNEL, padding="same", activation="relu",
                                name=f"conv{index}")(x)  # fmt: skip
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    for index in range(2):
        x = keras.layers.Dense(WIDTH, activation="relu", name=f"dense{index}")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="bench_reference")


def model_costs(num_classes: int = CLASSES) -> tuple[int, int, int]:
    """(params total, params trainable, forward FLOPs per sample) in closed form: a
    multiply-add counts 2, bias and ReLU 1 per element, pooling 1 add per element."""
    height, width, channels = INPUT_SHAPE
    pixels = height * width
    params, flops = 0, 0
    for fan_in in (channels, FILTERS):
        params += KERNEL * KERNEL * fan_in * FILTERS + FILTERS
        flops += 2 * pixels * KERNEL * KERNEL * fan_in * FILTERS + 2 * pixels * FILTERS
    flops += pixels * FILTERS  # pooling
    for fan_in, fan_out, relu in ((FILTERS, WIDTH, 1), (WIDTH, WIDTH, 1), (WIDTH, num_classes, 0)):
        params += fan_in * fan_out + fan_out
        flops += 2 * fan_in * fan_out + (1 + relu) * fan_out
    return params, params, flops
