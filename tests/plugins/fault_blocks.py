"""A test plugin block that misbehaves on purpose, loaded through BLOCKBENCH_PLUGINS.

``fault`` is an identity block on vectors whose construction (inside the worker, never in
the runner, which only validates) does what ``mode`` says: ``ok`` builds normally,
``raise`` raises, ``exit`` calls ``os._exit(3)``, ``segfault`` dereferences NULL, ``hang``
sleeps for an hour, ``oom`` allocates memory until the runner's limit kills the worker,
``sleep`` sleeps ``seconds`` then builds normally, ``nojit`` declares it cannot be
XLA-compiled (as Keras marks cuDNN LSTM/GRU layers on a GPU).
"""

import ctypes
import os
import time

import keras
import numpy as np

import blocks
from blocks.counts import FlopCount, ParamCount
from blocks.spec import REQUIRED, BlockSpec

MODES = ("ok", "raise", "exit", "segfault", "hang", "oom", "sleep", "nojit")


class FaultLayer(keras.layers.Layer):
    def __init__(self, mode="ok", seconds=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mode = mode
        if mode == "raise":
            raise RuntimeError("fault block raised on purpose")
        if mode == "exit":
            os._exit(3)
        if mode == "segfault":
            ctypes.string_at(0)
        if mode == "hang":
            time.sleep(3600)
        if mode == "oom":
            hog = []
            while True:
                hog.append(np.ones(2**27, dtype=np.uint8))  # 128 MiB, touched
                time.sleep(0.05)
        if mode == "sleep":
            time.sleep(seconds)
        if mode == "nojit":
            self.supports_jit = False  # as Keras marks cuDNN RNN layers on a GPU

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def _check(knobs, given):
    if knobs["mode"] not in MODES:
        raise ValueError(f"mode must be one of {MODES}")


blocks.BLOCKS["fault"] = BlockSpec(
    name="fault",
    layer=FaultLayer,
    defaults={"mode": REQUIRED, "seconds": 0.0},
    capacity_knobs=(),
    input_rank=1,
    check=_check,
    output_shape=lambda shape, knobs: tuple(shape),
    params=lambda shape, knobs: ParamCount(0, 0),
    flops=lambda shape, knobs: FlopCount(0, 0),
    activations=lambda shape, knobs: int(shape[0]),
)
