"""A plugin block for power checks: the same cells, more work, chosen from outside.

``repeat`` is a stack of ``Dense(units, relu)`` layers applied ``BLOCKBENCH_REPEAT``
times (default 3) to a vector. The count is read from the environment, not from a knob,
so two runs of one config have the same cell ids while one of them does 4/3 the work
(``BLOCKBENCH_REPEAT=4``): compare must call those cells slower. Load it with
``BLOCKBENCH_PLUGINS=benchmarks/plugins/repeat_block.py``.
"""

from __future__ import annotations

import os

import keras

import blocks
from blocks.counts import FlopCount, ParamCount
from blocks.spec import REQUIRED, BlockSpec, check_positive_int

VARIABLE = "BLOCKBENCH_REPEAT"


def repeats() -> int:
    return int(os.environ.get(VARIABLE, "3"))


class RepeatBlock(keras.layers.Layer):
    """``Dense(units, relu)`` applied ``repeats()`` times; the weights are shared, so the
    parameter count does not change with the repeats, only the work."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.inner = keras.layers.Dense(units, activation="relu")
        self.project = keras.layers.Dense(units, activation="relu")

    def build(self, input_shape):
        self.project.build(input_shape)
        self.inner.build((*input_shape[:-1], self.units))

    def call(self, inputs):
        x = self.project(inputs)
        for _ in range(repeats()):
            x = self.inner(x)
        return x

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def _params(shape, knobs):
    units, (features,) = knobs["units"], shape
    return ParamCount(features * units + units + units * units + units)


def _flops(shape, knobs):
    units, (features,) = knobs["units"], shape
    return FlopCount(2 * features * units + repeats() * 2 * units * units, 0)


blocks.BLOCKS["repeat"] = BlockSpec(
    name="repeat",
    layer=RepeatBlock,
    defaults={"units": REQUIRED},
    capacity_knobs=("units",),
    input_rank=1,
    check=lambda knobs, given: check_positive_int("repeat", "units", knobs["units"]),
    output_shape=lambda shape, knobs: (knobs["units"],),
    params=_params,
    flops=_flops,
    activations=lambda shape, knobs: (repeats() + 1) * knobs["units"],
    summary="Dense(units) applied BLOCKBENCH_REPEAT times (power checks)",
)
