"""A small hand-made results store for the report tests (no TensorFlow anywhere).

The run ``r1`` holds three families:

* ``dense``: units 16, 32, 64 at batch 32 (and units 16 at batch 128), forward and train,
  XLA off and on, memory, a Keras ``fit()`` step, and fit cells (units 16 and 32, two
  seeds each, plus one random-label seed);
* ``conv``: filters 8 and 16 by depth 1 and 2, train only, XLA off; one cell failed (OOM),
  one noisy;
* ``lstm``: units 8; the XLA train cell fell back to the non-cuDNN path and the XLA forward
  cell was skipped;
* a dense GPU cell, skipped (no GPU visible).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from bench.results.records import CellResult, FitResult, MemoryResult
from bench.results.store import Store, store_path
from bench.spec.cell import Cell, FitSettings
from tests.records import timing_result

ENV = {
    "cpu_model": "AMD EPYC 7B13",
    "cores": 2,
    "intra_op_threads": 2,
    "inter_op_threads": 1,
    "os": "Linux-6.1",
    "python": "3.11.7",
    "tensorflow": "2.21.0",
    "keras": "3.15.1",
    "numpy": "2.4.6",
    "gpus": [],
    "gpu_driver": None,
    "git_commit": "0123456789abcdef",
    "git_dirty": True,
    "tf32": None,
    "cpu_allocator_bfc": True,
    "hostname": "bench-1",
    "blockbench": "0.1.0",
}

SPREAD = (1.00, 1.02, 0.98, 1.01, 0.99)  # IQR/median = 2%
NOISY_SPREAD = (1.00, 1.30, 0.80, 1.20, 0.90)  # IQR/median = 30%


def timing(
    *,
    params: int,
    flops: int,
    batch: int,
    pass_: str,
    median_s: float,
    spread: Sequence[float] = SPREAD,
    compile_s: float = 0.5,
    fit_step_s: float | None = None,
    xla_max_abs_diff: float | None = None,
    xla_fallback: str = "",
    peak_bytes: int | None = None,
    estimate_bytes: int | None = None,
) -> CellResult:
    """An ``ok`` timing result with samples ``median_s * spread``."""
    factor = 3 if pass_ == "train" else 1
    memory = None
    if peak_bytes is not None:
        memory = MemoryResult(
            peak_bytes=peak_bytes,
            allocator="CPU:0 bfc",
            rss_peak_bytes=500 * 2**20,
            peak_bytes_estimate=estimate_bytes,
        )
    return CellResult(
        status="ok",
        timing=timing_result(
            params=params,
            params_trainable=params,
            flops=flops,
            flops_per_step=flops * batch * factor,
            build_s=0.1,
            compile_s=compile_s,
            steps_per_sample=50,
            samples_s=tuple(median_s * s for s in spread),
            fit_step_s=fit_step_s,
            xla_max_abs_diff=xla_max_abs_diff,
            xla_fallback=xla_fallback,
            memory=memory,
        ),
        wall_s=3.0,
    )


def fit_result(*, params: int, seed: int, val: float, gap: float, onset: int | None) -> CellResult:
    """An ``ok`` fit result over three epochs."""
    return CellResult(
        status="ok",
        fit=FitResult(
            params=params,
            metric="accuracy",
            epochs_run=3,
            curves={
                "train_loss": [1.0, 0.5, 0.2],
                "val_loss": [1.1, 0.6, 0.2 + gap],
                "train_metric": [0.7, 0.9, 0.99 - 0.01 * seed],
                "val_metric": [0.6, val - 0.05, val],
            },
            final_val_metric=val,
            best_val_metric=val,
            best_epoch=3,
            test_metric=val - 0.01,
            gap_end=gap,
            gap_best=gap,
            onset_epoch=onset,
            memorisation=None,
            fit_wall_s=4.0,
            train_size=1000,
        ),
        wall_s=5.0,
    )


def dense_cell(
    units: int, batch: int, pass_: str, xla: bool, fit: FitSettings | None = None
) -> Cell:
    return Cell("dense", (("units", units),), (64,), batch, pass_, xla=xla, fit=fit)


def build_store(path: Path, run_id: str = "r1", *, env: dict | None = None) -> Store:
    """The fixture store described in the module docstring."""
    store = Store(path)
    store.create_run(
        run_id, name="fixture", config_hash="h", config={}, env=env or ENV, total_cells=40
    )
    store.set_probe(run_id, "cpu", 1.1e11, {"method": "matmul"})
    for units in (16, 32, 64):
        params, flops = 65 * units, 2 * 64 * units
        batches = (32, 128) if units == 16 else (32,)
        for batch in batches:
            for pass_ in ("forward", "train"):
                base = 1e-4 * units / 16 * batch / 32 * (3 if pass_ == "train" else 1)
                for xla in (False, True):
                    store.record(
                        run_id,
                        dense_cell(units, batch, pass_, xla),
                        timing(
                            params=params,
                            flops=flops,
                            batch=batch,
                            pass_=pass_,
                            median_s=base / 1.5 if xla else base,
                            compile_s=2.0 if xla else 0.25,
                            fit_step_s=base * 4 if pass_ == "train" else None,
                            xla_max_abs_diff=(2e-6 if units < 64 else 5e-3) if xla else None,
                            peak_bytes=units * 2**16 if pass_ == "train" else None,
                            estimate_bytes=units * 2**15 if pass_ == "train" else None,
                        ),
                    )
    store.record(  # a GPU cell without a GPU: a problem, not a family "dense (gpu)"
        run_id,
        Cell("dense", (("units", 32),), (64,), 32, "train", device="gpu"),
        CellResult("skipped", reason="no GPU visible"),
    )
    for units, vals in ((16, (0.90, 0.92)), (32, (0.94, 0.96))):
        for seed, val in enumerate(vals):
            settings = FitSettings("digits", epochs=3, seed=seed)
            store.record(
                run_id,
                dense_cell(units, 32, "fit", False, settings),
                fit_result(
                    params=65 * units,
                    seed=seed,
                    val=val,
                    gap=0.1 * units / 16 + 0.01 * seed,
                    onset=2 if seed else None,
                ),
            )
    random = FitSettings("digits", epochs=3, seed=0, random_labels=True)
    store.record(
        run_id,
        dense_cell(16, 32, "fit", False, random),
        fit_result(params=1040, seed=0, val=0.1, gap=1.5, onset=1),
    )
    for filters in (8, 16):
        for depth in (1, 2):
            cell = Cell("conv", (("depth", depth), ("filters", filters)), (8, 8, 1), 32, "train")
            if (filters, depth) == (16, 2):
                result = CellResult(
                    "failed",
                    reason="ResourceExhaustedError: OOM when allocating tensor",
                    traceback="Traceback ...",
                )
            else:
                params = depth * (9 * filters * filters + filters)
                result = timing(
                    params=params,
                    flops=params * 128,
                    batch=32,
                    pass_="train",
                    median_s=1e-3 * depth * filters / 8,
                    spread=NOISY_SPREAD if (filters, depth) == (8, 2) else SPREAD,
                    peak_bytes=depth * filters * 2**17,
                )
            store.record(run_id, cell, result)
    lstm = Cell("lstm", (("units", 8),), (10, 4), 32, "train")
    store.record(
        run_id, lstm, timing(params=416, flops=8000, batch=32, pass_="train", median_s=2e-3)
    )
    store.record(
        run_id,
        Cell("lstm", (("units", 8),), (10, 4), 32, "train", xla=True),
        timing(
            params=416,
            flops=8000,
            batch=32,
            pass_="train",
            median_s=1e-3,
            xla_fallback="cuDNN LSTM is not XLA-compilable; ran the non-cuDNN path",
        ),
    )
    store.record(
        run_id,
        Cell("lstm", (("units", 8),), (10, 4), 32, "forward", xla=True),
        CellResult("skipped", reason="cuDNN LSTM kernels are not XLA-compilable"),
    )
    return store


@pytest.fixture(scope="session")
def fixture_store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a store holding run ``r1`` (build once per session; open it read-only)."""
    path = store_path(tmp_path_factory.mktemp("store"))
    build_store(path).close()
    return path


@pytest.fixture
def fixture_store(fixture_store_path: Path) -> Store:
    store = Store(fixture_store_path, create=False)
    yield store
    store.close()


@pytest.fixture
def make_store(tmp_path: Path) -> Callable[..., Store]:
    """Build the fixture store under ``tmp_path`` (for tests that need their own copy)."""
    opened: list[Store] = []

    def make(name: str = "a", **options: object) -> Store:
        store = build_store(store_path(tmp_path / name), **options)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
