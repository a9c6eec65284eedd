"""Allocator peaks of whole cells, run in-process through bench.execute.run_cell."""

import pytest

from bench.cell import Cell
from bench.config import RunSettings
from bench.execute import CellContext, run_cell

SETTINGS = RunSettings(repeats=2, warmup=0, min_sample_s=0.01, fit_step=False)


def dense(units, batch):
    return Cell("dense", (("units", units),), (32,), batch, "train")


@pytest.fixture(scope="module")
def memory_of(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    cache = {}

    def measure(cell):
        if cell not in cache:
            result = run_cell(cell, CellContext(settings=SETTINGS, run_dir=run_dir))
            assert result.status == "ok", result.traceback
            assert result.timing.memory is not None, result.warnings
            cache[cell] = result.timing.memory
        return cache[cell]

    return measure


def test_peak_is_positive_and_recorded_with_its_estimate(memory_of):
    memory = memory_of(dense(64, 8))
    assert memory.peak_bytes > 0
    assert memory.allocator.startswith("CPU:0 BFC")
    assert memory.rss_peak_bytes > memory.peak_bytes
    assert memory.peak_bytes_estimate == sum(memory.estimate.values()) > 0
    assert {"weights", "gradients", "optimizer", "activations", "inputs"} == set(memory.estimate)


def test_peak_grows_with_units(memory_of):
    small, wide = memory_of(dense(64, 8)), memory_of(dense(1024, 8))
    assert wide.peak_bytes > small.peak_bytes
    assert wide.peak_bytes_estimate > small.peak_bytes_estimate


def test_peak_grows_with_batch(memory_of):
    small, big = memory_of(dense(64, 8)), memory_of(dense(64, 256))
    assert big.peak_bytes > small.peak_bytes
    assert big.peak_bytes_estimate > small.peak_bytes_estimate


def test_estimate_is_within_a_factor_of_the_peak(memory_of):
    # The estimate leaves out backward and optimizer temporaries (see bench.memory.estimate);
    # measured ratios are 1 to 4 on the CPU allocator. A ratio far off means a broken model.
    for cell in (dense(64, 8), dense(1024, 8), dense(64, 256)):
        assert 0.5 < memory_of(cell).ratio < 6
