"""The PyTorch adapter, wherever torch is importable (it is an optional extra)."""

import os

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install -e '.[torch]')")
if os.environ.get("KERAS_BACKEND") != "torch":
    pytest.skip("Keras runs another backend in this process", allow_module_level=True)

import numpy as np  # noqa: E402

from bench.measure.backends import load  # noqa: E402
from bench.measure.model import build_model  # noqa: E402
from bench.spec.cell import Cell  # noqa: E402
from bench.spec.config import RunSettings  # noqa: E402


@pytest.mark.parametrize("pass_", ["forward", "train"])
@pytest.mark.parametrize("compiled", [False, True])
def test_torch_programs_run_and_train(pass_, compiled):
    backend = load("torch")
    cell = Cell("dense", (("units", 8),), (6,), 4, pass_, xla=compiled, backend="torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 6)).astype(np.float32)
    y = rng.integers(0, 10, size=(2, 4)).astype(np.int32)
    with backend.scope(cell, RunSettings()):
        program, _ = backend.program(cell, build_model(cell, fixed_batch=True), x, y)
        first = program.run(3)
        second = program.run(3)
    assert np.isfinite(first) and second != first
