"""The `conv` block: [Conv2D -> BatchNormalization -> MaxPooling2D(2)] repeated `depth` times.

One stage is the seed's convolutional block: ``Conv2D(filters, kernel_size, activation="relu",
padding="same")``, then ``BatchNormalization()`` (if ``batch_norm``), then
``MaxPooling2D(2)`` (if ``pool``; "valid" padding, so each pooling floors height and width
to half).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from blocks.base import BlockLayer
from blocks.counts import (
    ACTIVATION_FLOPS,
    BATCH_NORM_FLOPS,
    BIAS_FLOPS,
    MAX_POOL_FLOPS,
    FlopCount,
    ParamCount,
    size,
)
from blocks.spec import (
    REQUIRED,
    BlockSpec,
    Knobs,
    Shape,
    check_bool,
    check_positive_int,
)

NAME = "conv"
DEFAULTS = {"filters": REQUIRED, "kernel_size": 3, "depth": 1, "batch_norm": True, "pool": True}


def kernel_pair(kernel_size: int | Sequence[int]) -> tuple[int, int]:
    """The kernel size as (height, width).

    >>> kernel_pair(3), kernel_pair([1, 5])
    ((3, 3), (1, 5))
    """
    if isinstance(kernel_size, int):
        return (kernel_size, kernel_size)
    return (int(kernel_size[0]), int(kernel_size[1]))


def _check(knobs: Knobs, given: frozenset[str]) -> None:
    check_positive_int(NAME, "filters", knobs["filters"])
    check_positive_int(NAME, "depth", knobs["depth"])
    check_bool(NAME, "batch_norm", knobs["batch_norm"])
    check_bool(NAME, "pool", knobs["pool"])
    kernel = knobs["kernel_size"]
    if isinstance(kernel, (list, tuple)) and len(kernel) == 2:
        for k in kernel:
            check_positive_int(NAME, "kernel_size", k)
    else:
        check_positive_int(NAME, "kernel_size", kernel)


def _check_shape(shape: Shape, knobs: Knobs) -> None:
    if not knobs["pool"]:
        return
    for dim in shape[:2]:
        if dim is None:
            continue
        for stage in range(knobs["depth"]):
            if dim < 2:
                max_depth = stage
                raise ValueError(
                    f"block {NAME!r}: pooling below one pixel: input {shape} is "
                    f"{dim} pixel(s) along one side after {stage} pooling(s) and cannot be "
                    f"halved again; depth={knobs['depth']} needs depth <= {max_depth} "
                    "(or pool=False, or a larger image)"
                )
            dim //= 2


def _stage_shapes(shape: Shape, knobs: Knobs) -> list[tuple[Shape, Shape]]:
    """(input shape, conv output shape) of every stage."""
    height, width, channels = shape
    stages = []
    for _ in range(knobs["depth"]):
        conv_out = (height, width, knobs["filters"])
        stages.append(((height, width, channels), conv_out))
        if knobs["pool"]:
            height = None if height is None else height // 2
            width = None if width is None else width // 2
        channels = knobs["filters"]
    return stages


def _output_shape(shape: Shape, knobs: Knobs) -> Shape:
    _, (height, width, filters) = _stage_shapes(shape, knobs)[-1]
    if knobs["pool"]:
        height = None if height is None else height // 2
        width = None if width is None else width // 2
    return (height, width, filters)


def _params(shape: Shape, knobs: Knobs) -> ParamCount:
    kh, kw = kernel_pair(knobs["kernel_size"])
    filters = knobs["filters"]
    total = ParamCount(0)
    for (_, _, channels), _ in _stage_shapes(shape, knobs):
        total += ParamCount(kh * kw * channels * filters + filters)
        if knobs["batch_norm"]:
            total += ParamCount(2 * filters, 2 * filters)  # gamma, beta | moving mean, var
    return total


def _flops(shape: Shape, knobs: Knobs) -> FlopCount:
    kh, kw = kernel_pair(knobs["kernel_size"])
    total = FlopCount(0)
    for (_, _, channels), conv_out in _stage_shapes(shape, knobs):
        elements = size(conv_out)
        elementwise = elements * (BIAS_FLOPS + ACTIVATION_FLOPS)
        if knobs["batch_norm"]:
            elementwise += elements * BATCH_NORM_FLOPS
        if knobs["pool"]:
            elementwise += size(_pooled(conv_out)) * MAX_POOL_FLOPS
        total += FlopCount(2 * elements * kh * kw * channels, elementwise)
    return total


def _activations(shape: Shape, knobs: Knobs) -> int:
    total = 0
    for _, conv_out in _stage_shapes(shape, knobs):
        total += size(conv_out)  # conv output (bias and relu are fused into it)
        if knobs["batch_norm"]:
            total += size(conv_out)
        if knobs["pool"]:
            total += size(_pooled(conv_out))
    return total


def _pooled(shape: Shape) -> Shape:
    height, width, channels = shape
    return (height // 2, width // 2, channels)


@keras.saving.register_keras_serializable(package="blockbench")
class ConvBlock(BlockLayer):
    """[Conv2D -> BatchNormalization -> MaxPooling2D(2)] x depth; see `blocks.conv`.

    >>> layer = ConvBlock(filters=8, depth=2)
    >>> layer.compute_output_shape((None, 28, 28, 1))
    (None, 7, 7, 8)
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int] = 3,
        depth: int = 1,
        batch_norm: bool = True,
        pool: bool = True,
        **kwargs,
    ):
        knobs = dict(
            filters=filters, kernel_size=kernel_size, depth=depth, batch_norm=batch_norm, pool=pool
        )
        super().__init__(knobs, **kwargs)
        for _ in range(depth):
            self.stack.append(
                keras.layers.Conv2D(filters, kernel_size, activation="relu", padding="same")
            )
            if batch_norm:
                self.stack.append(keras.layers.BatchNormalization())
            if pool:
                self.stack.append(keras.layers.MaxPooling2D(2))


SPEC = BlockSpec(
    name=NAME,
    layer=ConvBlock,
    defaults=DEFAULTS,
    capacity_knobs=("filters", "depth"),
    input_rank=3,
    check=_check,
    check_shape=_check_shape,
    output_shape=_output_shape,
    params=_params,
    flops=_flops,
    activations=_activations,
    small_knobs={
        "filters": (1, 2, 5),
        "kernel_size": (3, 1, (1, 3)),
        "depth": (1, 2),
        "batch_norm": (True, False),
        "pool": (True, False),
    },
    small_inputs=((4, 4, 1), (6, 5, 3), (8, 8, 2)),
    summary="Conv2D(relu, same) -> BatchNormalization -> MaxPooling2D(2), x depth",
)
ConvBlock.spec = SPEC  # the layer validates its knobs against its registry entry
