"""Timing cells in-process: what a cell records, XLA fallbacks, failures as results."""

from pathlib import Path

import pytest

from bench.spec.cell import Cell
from bench.spec.config import RunSettings
from bench.spec.plugins import load_plugins
from bench.worker.execute import CellContext, run_cell

PLUGIN = str(Path(__file__).resolve().parent.parent / "plugins" / "fault_blocks.py")
FAST = RunSettings(repeats=3, warmup=1, min_sample_s=0.01, fit_step=True, memory=False)


@pytest.fixture(scope="module", autouse=True)
def fault_block():
    load_plugins(PLUGIN)


def test_layers_that_refuse_xla_are_timed_without_it_and_say_so(tmp_path):
    cell = Cell("fault", (("mode", "nojit"),), (4,), 2, "train", xla=True)
    result = run_cell(cell, CellContext(FAST, tmp_path))
    assert result.status == "ok", result.traceback
    assert result.timing.xla_fallback.startswith("timed without XLA: layers fault_layer")
    assert result.timing.xla_max_abs_diff is None  # no XLA run to compare with


def test_an_exception_in_a_cell_is_a_failed_result_not_a_crash(tmp_path):
    cell = Cell("fault", (("mode", "raise"),), (4,), 2, "forward")
    result = run_cell(cell, CellContext(FAST, tmp_path))
    assert result.status == "failed"
    assert result.reason == "RuntimeError: fault block raised on purpose"
    assert "Traceback" in result.traceback and result.wall_s > 0


def test_gpu_cells_are_skipped_without_a_gpu(tmp_path):
    cell = Cell("dense", (("units", 4),), (4,), 2, "train", device="gpu")
    result = run_cell(cell, CellContext(FAST, tmp_path))
    assert (result.status, result.reason) == ("skipped", "no GPU visible")


@pytest.mark.gpu
def test_gpu_cells_run_with_tf32_pinned_off(tmp_path):
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        pytest.skip("no GPU visible")
    cell = Cell("dense", (("units", 4),), (4,), 2, "train", device="gpu")
    result = run_cell(cell, CellContext(FAST, tmp_path))
    assert result.status == "ok" and result.timing.tf32 is False


def test_a_kept_program_is_sampled_again_at_later_visits_then_dropped(tmp_path):
    from bench.worker.execute import drop_kept, run_round, sample_again

    context = CellContext(FAST, tmp_path)
    cell = Cell("dense", (("units", 8),), (4,), 2, "train")
    first = run_round(cell, context, round_=1, position=0, keep=True)
    assert first.status == "ok" and cell.cell_id in context.kept
    later = sample_again(cell.cell_id, context, 4)
    assert len(later["samples_s"]) == 4 and min(later["samples_s"]) > 0
    assert drop_kept(context) == 1 and context.kept == {}
    assert "no kept program" in sample_again(cell.cell_id, context, 1)["reason"]
