"""What every backend adapter provides to the worker (`bench.worker.execute`).

The worker's logic (rounds, extras, failures, records) is written once against this
interface; an adapter holds only what differs between frameworks.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import keras
import numpy as np

from bench.measure.memory import PeakReader
from bench.measure.rounds import StepProgram
from bench.results.records import ProfileResult
from bench.spec.backends import not_timed
from bench.spec.cell import Cell
from bench.spec.config import RunSettings


class Backend(abc.ABC):
    """A Keras backend as the worker sees it."""

    name: str

    def setup(self, settings: RunSettings) -> None:
        """Once per worker, after the framework is imported (e.g. TF32)."""
        return None

    @abc.abstractmethod
    def gpu_visible(self) -> bool: ...

    def skip_reason(self, cell: Cell) -> str | None:
        """Why this worker cannot time ``cell`` (no GPU, a mode that is never timed)."""
        if cell.device == "gpu" and not self.gpu_visible():
            return "no GPU visible"
        return not_timed(cell.backend, cell.xla)

    @contextmanager
    def scope(self, cell: Cell, settings: RunSettings, *, collect: bool = True) -> Iterator[None]:
        """Seeds, dtype policy and device for one cell; cleaned up after.

        ``collect``: run a full garbage collection after the cell. A worker that keeps
        the compiled programs of a block of cells skips it (``collect=False``): nothing
        is freed while they live, yet a collection scans their objects, which are made
        after the worker's ``gc.freeze()``. Measured in a process without the freeze, with
        30 programs alive: 0.3 s per cell, in Keras' ``clear_session``. The block's end
        collects once."""
        try:
            keras.utils.set_random_seed(settings.seed)
            keras.config.set_dtype_policy(cell.dtype_policy)
            with self.device_scope(cell, settings):
                yield
        finally:
            keras.config.set_dtype_policy("float32")
            keras.backend.clear_session(free_memory=collect)  # True: Keras runs gc.collect()

    def device_scope(self, cell: Cell, settings: RunSettings) -> AbstractContextManager[Any]:
        """The context that places a cell's work on its device (Keras' own by default)."""
        return keras.device("gpu:0" if cell.device == "gpu" else "cpu:0")

    @abc.abstractmethod
    def program(
        self, cell: Cell, model: keras.Model, x: np.ndarray, y: np.ndarray
    ) -> tuple[StepProgram, str]:
        """The K-step program of a timing cell, and why compilation was dropped ("" if
        it was not). ``x``/``y`` hold two batches stacked on a leading axis."""

    @abc.abstractmethod
    def compile_difference(self, model: keras.Model, x: np.ndarray) -> float:
        """Max |compiled - uncompiled| of the forward outputs on the first of the two
        stacked batches ``x``, same weights."""

    @abc.abstractmethod
    def peak_reader(self, device: str) -> PeakReader: ...

    @abc.abstractmethod
    def profile(
        self, step: Any, *, logdir: Path, run_name: str, steps: int, step_name: str
    ) -> ProfileResult: ...

    def tf32(self) -> bool:
        """Whether TF32 matmuls are on (only TensorFlow and torch on Ampere+ GPUs)."""
        return False

    @abc.abstractmethod
    def canary(self) -> dict[str, Any]: ...

    @abc.abstractmethod
    def peak_flops(self, device: str) -> dict[str, Any]: ...
