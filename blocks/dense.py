"""The `dense` block: [Dense(relu) -> BatchNormalization] for each width.

The seed's dense block: for each width ``Dense(width, activation="relu")`` then
``BatchNormalization()`` (if ``batch_norm``). Widths are ``units`` repeated ``depth`` times
when ``units`` is an int, or ``units`` itself when it is a list (the seed's ``units_list``;
then ``depth`` must not be given). Input is a vector ``(features,)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from blocks.base import BlockLayer
from blocks.counts import (
    ACTIVATION_FLOPS,
    BATCH_NORM_FLOPS,
    BIAS_FLOPS,
    FlopCount,
    ParamCount,
)
from blocks.spec import (
    REQUIRED,
    BlockSpec,
    Knobs,
    Shape,
    check_bool,
    check_positive_int,
)

NAME = "dense"
DEFAULTS = {"units": REQUIRED, "depth": 1, "batch_norm": True}


def widths(knobs: Knobs) -> list[int]:
    """The width of every Dense layer.

    >>> widths({"units": 8, "depth": 2}), widths({"units": [64, 32], "depth": 1})
    ([8, 8], [64, 32])
    """
    units = knobs["units"]
    if isinstance(units, (list, tuple)):
        return [int(width) for width in units]
    return [units] * knobs["depth"]


def _check(knobs: Knobs, given: frozenset[str]) -> None:
    units = knobs["units"]
    check_positive_int(NAME, "depth", knobs["depth"])
    check_bool(NAME, "batch_norm", knobs["batch_norm"])
    if isinstance(units, (list, tuple)):
        if not units:
            raise ValueError(f"block {NAME!r}: knob 'units' is an empty list of widths")
        for width in units:
            check_positive_int(NAME, "units", width)
        if "depth" in given:
            raise ValueError(
                f"block {NAME!r}: a list of widths with depth too: units={list(units)} "
                f"already sets {len(units)} layer(s); drop depth={knobs['depth']!r}"
            )
    else:
        check_positive_int(NAME, "units", units)


def _output_shape(shape: Shape, knobs: Knobs) -> Shape:
    return (widths(knobs)[-1],)


def _params(shape: Shape, knobs: Knobs) -> ParamCount:
    (width_in,) = shape
    total = ParamCount(0)
    for width in widths(knobs):
        total += ParamCount(width_in * width + width)
        if knobs["batch_norm"]:
            total += ParamCount(2 * width, 2 * width)  # gamma, beta | moving mean, var
        width_in = width
    return total


def _flops(shape: Shape, knobs: Knobs) -> FlopCount:
    (width_in,) = shape
    per_element = BIAS_FLOPS + ACTIVATION_FLOPS + (BATCH_NORM_FLOPS if knobs["batch_norm"] else 0)
    total = FlopCount(0)
    for width in widths(knobs):
        total += FlopCount(2 * width_in * width, per_element * width)
        width_in = width
    return total


def _activations(shape: Shape, knobs: Knobs) -> int:
    per_layer = 2 if knobs["batch_norm"] else 1  # Dense output (+ BatchNormalization output)
    return per_layer * sum(widths(knobs))


@keras.saving.register_keras_serializable(package="blockbench")
class DenseBlock(BlockLayer):
    """[Dense(relu) -> BatchNormalization] per width; see `blocks.dense`.

    >>> DenseBlock(units=[64, 32]).compute_output_shape((None, 10))
    (None, 32)
    """

    def __init__(
        self,
        units: int | Sequence[int],
        depth: int = 1,
        batch_norm: bool = True,
        **kwargs,
    ):
        super().__init__(dict(units=units, depth=depth, batch_norm=batch_norm), **kwargs)
        for width in widths(self.knobs):
            self.stack.append(keras.layers.Dense(width, activation="relu"))
            if batch_norm:
                self.stack.append(keras.layers.BatchNormalization())


SPEC = BlockSpec(
    name=NAME,
    layer=DenseBlock,
    defaults=DEFAULTS,
    capacity_knobs=("units", "depth"),
    input_rank=1,
    check=_check,
    output_shape=_output_shape,
    params=_params,
    flops=_flops,
    activations=_activations,
    small_knobs={
        "units": (3, 1, [4, 2], 2),
        "depth": (1, 2, 1, 3),
        "batch_norm": (True, False),
    },
    small_inputs=((3,), (5,), (1,)),
    summary="Dense(relu) -> BatchNormalization per width",
)
DenseBlock.spec = SPEC  # the layer validates its knobs against its registry entry
