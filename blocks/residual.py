"""The `residual` block: ResNet basic blocks (stride 1), `depth` of them stacked.

One basic block: ``conv3x3 -> BN -> ReLU -> conv3x3 -> BN``, plus the shortcut, then ReLU.
The shortcut is the identity when the input already has ``filters`` channels, otherwise a
1x1 convolution projection followed by BN (only the first block can need one). The
convolutions have no bias (BN follows each one), as in the ResNet paper and torchvision.
Input is ``(height, width, channels)``; padding is "same", so height and width are kept.

Per output element of a basic block: elementwise FLOPs are 2 BN (4 each), 2 ReLU and the
add (11, plus 4 for a projection BN); kept activations are conv, BN, ReLU, conv, BN, add and
ReLU outputs (7, plus 2 for a projection's conv and BN).
"""

from __future__ import annotations

import keras

from blocks.base import BlockLayer
from blocks.counts import ACTIVATION_FLOPS, ADD_FLOPS, BATCH_NORM_FLOPS, FlopCount, ParamCount
from blocks.spec import REQUIRED, BlockSpec, Knobs, Shape, check_positive_int

NAME = "residual"
DEFAULTS = {"filters": REQUIRED, "depth": 1}
KERNEL = 3


def _check(knobs: Knobs, given: frozenset[str]) -> None:
    check_positive_int(NAME, "filters", knobs["filters"])
    check_positive_int(NAME, "depth", knobs["depth"])


def _input_channels(shape: Shape, knobs: Knobs) -> list[int]:
    """Input channels of every basic block."""
    return [shape[2]] + [knobs["filters"]] * (knobs["depth"] - 1)


def _output_shape(shape: Shape, knobs: Knobs) -> Shape:
    return (shape[0], shape[1], knobs["filters"])


def _batch_norm(filters: int) -> ParamCount:
    return ParamCount(2 * filters, 2 * filters)  # gamma, beta | moving mean, variance


def _params(shape: Shape, knobs: Knobs) -> ParamCount:
    filters = knobs["filters"]
    total = ParamCount(0)
    for channels in _input_channels(shape, knobs):
        total += ParamCount(KERNEL * KERNEL * channels * filters) + _batch_norm(filters)
        total += ParamCount(KERNEL * KERNEL * filters * filters) + _batch_norm(filters)
        if channels != filters:
            total += ParamCount(channels * filters) + _batch_norm(filters)
    return total


def _flops(shape: Shape, knobs: Knobs) -> FlopCount:
    filters = knobs["filters"]
    pixels = shape[0] * shape[1]
    elements = pixels * filters
    per_element = 2 * BATCH_NORM_FLOPS + 2 * ACTIVATION_FLOPS + ADD_FLOPS
    total = FlopCount(0)
    for channels in _input_channels(shape, knobs):
        matmul = 2 * pixels * KERNEL * KERNEL * filters * (channels + filters)
        elementwise = per_element * elements
        if channels != filters:
            matmul += 2 * pixels * channels * filters
            elementwise += BATCH_NORM_FLOPS * elements
        total += FlopCount(matmul, elementwise)
    return total


def _activations(shape: Shape, knobs: Knobs) -> int:
    elements = shape[0] * shape[1] * knobs["filters"]
    total = 0
    for channels in _input_channels(shape, knobs):
        total += (7 + (2 if channels != knobs["filters"] else 0)) * elements
    return total


@keras.saving.register_keras_serializable(package="blockbench")
class ResidualBlock(BlockLayer):
    """ResNet basic blocks (stride 1) x depth; see `blocks.residual`.

    >>> ResidualBlock(filters=16).compute_output_shape((None, 8, 8, 3))
    (None, 8, 8, 16)
    """

    def __init__(self, filters: int, depth: int = 1, **kwargs):
        super().__init__(dict(filters=filters, depth=depth), **kwargs)
        self.convs1, self.norms1, self.convs2, self.norms2 = [], [], [], []
        for _ in range(depth):
            self.convs1.append(_conv(filters, KERNEL))
            self.norms1.append(keras.layers.BatchNormalization())
            self.convs2.append(_conv(filters, KERNEL))
            self.norms2.append(keras.layers.BatchNormalization())
        # Used (and built) only when the input does not have `filters` channels.
        self.projection = _conv(filters, 1)
        self.projection_norm = keras.layers.BatchNormalization()
        self.projects = False

    def build_layers(self, input_shape):
        shape = input_shape
        out_shape = (*shape[:-1], self.knobs["filters"])
        self.projects = shape[-1] != self.knobs["filters"]
        if self.projects:
            self.projection.build(shape)
            self.projection_norm.build(out_shape)
        for conv1, norm1, conv2, norm2 in zip(
            self.convs1, self.norms1, self.convs2, self.norms2, strict=True
        ):
            conv1.build(shape)
            norm1.build(out_shape)
            conv2.build(out_shape)
            norm2.build(out_shape)
            shape = out_shape

    def call(self, inputs, training=None):
        x = inputs
        for index, (conv1, norm1, conv2, norm2) in enumerate(
            zip(self.convs1, self.norms1, self.convs2, self.norms2, strict=True)
        ):
            shortcut = x
            if index == 0 and self.projects:
                shortcut = self.projection_norm(self.projection(x))
            y = keras.ops.relu(norm1(conv1(x)))
            y = norm2(conv2(y))
            x = keras.ops.relu(y + shortcut)
        return x


def _conv(filters: int, kernel: int) -> keras.layers.Conv2D:
    return keras.layers.Conv2D(filters, kernel, padding="same", use_bias=False)


SPEC = BlockSpec(
    name=NAME,
    layer=ResidualBlock,
    defaults=DEFAULTS,
    capacity_knobs=("filters", "depth"),
    input_rank=3,
    check=_check,
    output_shape=_output_shape,
    params=_params,
    flops=_flops,
    activations=_activations,
    small_knobs={"filters": (2, 3, 1), "depth": (1, 2)},
    small_inputs=((3, 3, 2), (4, 4, 1), (2, 3, 3)),
    summary="ResNet basic block (conv3x3-BN-ReLU-conv3x3-BN + shortcut, ReLU), x depth",
)
ResidualBlock.spec = SPEC  # the layer validates its knobs against its registry entry
