"""The TensorFlow backend: ``tf.function`` graphs, XLA through ``jit_compile``.

The step program is `bench.measure.timing.make_program` (K steps in one traced
``tf.while_loop``); memory comes from the TF allocator (`bench.measure.memory`),
profiles from ``tf.profiler``, the probe and canary from `bench.measure.probe`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from bench.measure import canary, memory, probe, profiling
from bench.measure.backends.base import Backend
from bench.measure.memory import PeakReader
from bench.measure.rounds import StepProgram
from bench.measure.timing import make_program
from bench.results.records import ProfileResult
from bench.spec.cell import Cell
from bench.spec.config import RunSettings


class TensorFlowBackend(Backend):
    name = "tensorflow"

    def setup(self, settings: RunSettings) -> None:
        tf.config.experimental.enable_tensor_float_32_execution(settings.tf32)

    def gpu_visible(self) -> bool:
        return bool(tf.config.list_physical_devices("GPU"))

    def device_scope(self, cell: Cell, settings: RunSettings) -> AbstractContextManager[Any]:
        tf.config.experimental.enable_tensor_float_32_execution(settings.tf32)
        return tf.device("/GPU:0" if cell.device == "gpu" else "/CPU:0")

    def program(
        self, cell: Cell, model: keras.Model, x: np.ndarray, y: np.ndarray
    ) -> tuple[StepProgram, str]:
        fallback = ""
        no_jit = layers_without_jit(model)
        if cell.xla and no_jit:
            fallback = (
                f"timed without XLA: layers {', '.join(no_jit)} do not support jit_compile "
                "(cuDNN kernels); Keras drops XLA for them too"
            )
        program = make_program(model, x, y, pass_=cell.pass_, xla=cell.xla and not no_jit)
        return program, fallback

    def compile_difference(self, model: keras.Model, x: np.ndarray) -> float:
        inputs = tf.constant(x[0])  # the first of the two stacked batches

        def forward(v):
            return model(v, training=False)

        plain = tf.function(forward, jit_compile=False, autograph=False)(inputs)
        compiled = tf.function(forward, jit_compile=True, autograph=False)(inputs)
        return float(np.max(np.abs(plain.numpy().astype(np.float64) - compiled.numpy())))

    def peak_reader(self, device: str) -> PeakReader:
        return memory.PeakTracker(device)

    def profile(
        self, step: Any, *, logdir: Path, run_name: str, steps: int, step_name: str
    ) -> ProfileResult:
        return profiling.capture(step, logdir=logdir, run_name=run_name, steps=steps,
                                 step_name=step_name)  # fmt: skip

    def tf32(self) -> bool:
        return tf.config.experimental.tensor_float_32_execution_enabled()

    def canary(self) -> dict[str, Any]:
        return canary.canary()

    def peak_flops(self, device: str) -> dict[str, Any]:
        return probe.peak_flops(device)


def layers_without_jit(model: keras.Model) -> list[str]:
    """Names of layers that declare they cannot be XLA-compiled (e.g. cuDNN LSTM/GRU on
    GPU: Keras sets ``supports_jit = False`` on them and silently drops XLA)."""
    flatten = getattr(model, "_flatten_layers", None)
    layers = flatten() if flatten else model.layers
    return [layer.name for layer in layers if not getattr(layer, "supports_jit", True)]


BACKEND = TensorFlowBackend()
