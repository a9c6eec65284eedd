"""The JAX adapter on CPU: its two K-step loops compute the same steps, compilation
changes no output, memory and profiles say what they have, and its timing matches a
hand-written loop."""

import os
from pathlib import Path

import numpy as np
import pytest

if os.environ.get("KERAS_BACKEND") != "jax":
    pytest.skip("Keras was imported with another backend in this process", allow_module_level=True)

from bench.measure.backends import load  # noqa: E402
from bench.measure.backends.jax_backend import make_program  # noqa: E402
from bench.measure.model import build_model  # noqa: E402
from bench.measure.profiling import ProfileWarning  # noqa: E402
from bench.measure.rounds import measure_round  # noqa: E402
from bench.spec.cell import Cell  # noqa: E402
from bench.spec.config import RunSettings  # noqa: E402

BACKEND = load("jax")


def _batches(cell):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, cell.batch_size, *cell.input_shape)).astype(np.float32)
    y = rng.integers(0, 10, size=(2, cell.batch_size)).astype(np.int32)
    return x, y


def _program(cell, *, device_loop):
    with BACKEND.scope(cell, RunSettings()):
        model = build_model(cell, fixed_batch=True)
        x, y = _batches(cell)
        return make_program(model, x, y, pass_=cell.pass_, device_loop=device_loop)


@pytest.mark.parametrize("pass_", ["forward", "train"])
def test_dispatched_and_device_loops_run_the_same_steps(pass_):
    cell = Cell("dense", (("units", 8),), (6,), 4, pass_, xla=True, backend="jax")
    dispatched = _program(cell, device_loop=False)
    looped = _program(cell, device_loop=True)
    totals = [(program.run(3), program.run(4)) for program in (dispatched, looped)]
    assert totals[0] == pytest.approx(totals[1], rel=1e-5)
    first, second = totals[0]  # the accumulator runs on across calls: steps 1-3, then 1-7
    if pass_ == "train":  # mean loss of steps 4-7 below that of steps 1-3: they really train
        assert (second - first) / 4 < first / 3
    assert second != first


def test_compiling_changes_no_output_and_op_by_op_is_skipped_with_its_reason():
    cell = Cell("conv", (("filters", 4),), (8, 8, 1), 2, "forward", xla=True, backend="jax")
    with BACKEND.scope(cell, RunSettings()):
        model = build_model(cell, fixed_batch=True)
        assert BACKEND.compile_difference(model, _batches(cell)[0]) < 1e-4
    eager = Cell("conv", (("filters", 4),), (8, 8, 1), 2, "forward", xla=False, backend="jax")
    assert BACKEND.skip_reason(eager).startswith("op-by-op JAX is not timed")
    assert BACKEND.skip_reason(cell) is None


def test_cpu_memory_reports_rss_and_why_there_is_no_allocator_peak():
    reader = BACKEND.peak_reader("cpu")
    reader.start()
    block = np.ones((64, 2**14), np.float32) * 2  # 4 MiB, touched
    peak = reader.stop()
    assert block.sum() > 0
    assert peak.peak_bytes is None and peak.allocator.startswith("unavailable: JAX's cpu client")
    assert peak.rss_peak_bytes > 4 * 2**20


def test_a_profile_lands_where_tensorboard_lists_it(tmp_path):
    cell = Cell("dense", (("units", 8),), (6,), 4, "train", xla=True, backend="jax")
    program = _program(cell, device_loop=False)
    # XLA:CPU executions carry no per-op events in JAX's host trace: the read-back says so
    with pytest.warns(ProfileWarning, match="no ops recorded"):
        result = BACKEND.profile(program.step, logdir=tmp_path, run_name="cell", steps=2,
                                 step_name="train")  # fmt: skip
    path = Path(result.profile_path)
    assert path.suffix == ".pb" and path.parent == tmp_path / "plugins" / "profile" / "cell"
    assert path.stat().st_size > 0


def test_timing_matches_a_hand_written_loop_in_the_same_process():
    import time

    cell = Cell("dense", (("units", 64),), (32,), 16, "train", xla=True, backend="jax")
    program = _program(cell, device_loop=False)
    timing = measure_round(program, RunSettings(repeats=5, min_sample_s=0.02))
    steps = timing.steps_per_sample
    manual = []
    for _ in range(5):
        start = time.perf_counter()
        program.run(steps)
        manual.append((time.perf_counter() - start) / steps)
    ratio = np.median(timing.samples_s) / np.median(manual)
    assert 0.5 < ratio < 2.0  # same work; the benchmark script measures the ratio closely


def test_probe_and_canary_measure_something():
    canary = BACKEND.canary()
    assert canary["label"].startswith("jax matmul") and canary["median_s"] > 0
    assert BACKEND.peak_flops("gpu")["reason"] == "no GPU visible"
