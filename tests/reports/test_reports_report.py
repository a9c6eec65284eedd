"""The whole report: sections in order, plots written and linked, no TensorFlow."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.results.records import CellResult, FitResult
from bench.results.store import Store
from bench.spec.cell import Cell, FitSettings
from reports.report import write_report
from tests.records import timing_result

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SECTIONS = [
    "# blockbench report: fixture",
    "## At a glance",
    "## Summary",
    "## Machine state",
    "## Environment",
    "## Results by block family",
    "### conv",
    "### dense",
    "### lstm",
    "## Step time = overhead + FLOPs ÷ throughput",
    "## Scaling laws",
    "## Plots",
    "## Where the time went",
    "## Problems",
    "### Failed and skipped cells",
    "### Noisy cells",
    "### XLA fallbacks",
]
PLOTS = [
    "step_time_vs_params.png",
    "throughput_vs_batch.png",
    "peak_memory_vs_params.png",
    "gap_vs_params.png",
    "learning_curves.png",
    "xla_speedup.png",
]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def built(fixture_store_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of run ``r1`` (built once)."""
    out = tmp_path_factory.mktemp("out")
    with Store(fixture_store_path, create=False) as store:
        return write_report(store, "r1", out)


def test_report_path(built: Path) -> None:
    # No wall-clock bound here: speed targets belong in benchmarks, and a first build on a
    # fresh machine also builds matplotlib's font cache.
    assert built.name == "report.md" and built.parent.name == "r1"
    assert built.is_file()


def test_sections_in_order(built: Path) -> None:
    lines = built.read_text(encoding="utf-8").splitlines()
    positions = [lines.index(heading) for heading in SECTIONS]
    assert positions == sorted(positions)
    text = "\n".join(lines)
    assert "29 of 40 cells done (26 ok, 1 failed, 2 skipped)" in text
    assert "| dense    | train   | off   | step time   |   3 |          1.00 |" in text
    # at a glance: ratios against the smallest capacity (the fixture's dense step times
    # double with units, its params are 16 -> 32 -> 64 units' counts)
    assert "| units=32   |" in text and "(×2.00)" in text
    assert "This run recorded no canary, so whether the machine was quiet is unknown." in text


def test_plots_are_valid_pngs_linked_relatively(built: Path) -> None:
    path = built
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", path.read_text(encoding="utf-8"))
    assert links == PLOTS
    for name in links:
        data = (path.parent / name).read_bytes()
        assert len(data) > 1000
        assert data[:8] == PNG_SIGNATURE


def test_run_prefix_and_store_path(fixture_store_path: Path, tmp_path: Path) -> None:
    store = Store(fixture_store_path, create=False)
    store.close()
    path = write_report(fixture_store_path, "r", tmp_path)  # a path and a unique prefix
    assert path == tmp_path / "r1" / "report.md"


def test_empty_run_skips_plots_with_a_sentence(tmp_path: Path) -> None:
    with Store(tmp_path / "blockbench.sqlite") as store:
        store.create_run("e1", name="empty", config_hash="h", config={}, env={}, total_cells=3)
        path = write_report(store, "e1", tmp_path)
    text = path.read_text(encoding="utf-8")
    assert "No results to summarise." in text
    assert "No timing results, so there is no step-time plot." in text
    assert "No fit cells finished, so there is no generalisation-gap plot." in text
    assert "no power laws were fitted" in text
    assert not list(path.parent.glob("*.png"))


def test_report_builds_without_tensorflow(fixture_store_path: Path, tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from reports.report import write_report\n"
        f"path = write_report({str(fixture_store_path)!r}, 'r1', {str(tmp_path)!r})\n"
        "assert path.exists()\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n"
        "assert 'keras' not in sys.modules, 'keras was imported'\n"
        "print('clean')\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error::UserWarning", "-W", "error::RuntimeWarning", "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "clean"


def _timing(median_s: float, params: int) -> CellResult:
    timing = timing_result(
        params=params, params_trainable=params, flops=1000, flops_per_step=8000, build_s=0.0,
        compile_s=0.0, steps_per_sample=1, samples_s=(median_s,),
    )  # fmt: skip
    return CellResult("ok", timing=timing)


def test_devices_shapes_list_knobs_and_missing_results(tmp_path: Path) -> None:
    with Store(tmp_path / "blockbench.sqlite") as store:
        store.create_run("odd", name="odd", config_hash="h", config={}, env={}, total_cells=11)
        for device in ("cpu", "gpu"):
            for kernel in ((3, 3), (5, 5)):
                for shape in ((8, 8, 1), (16, 16, 1)):
                    cell = Cell("conv", (("kernel", kernel),), shape, 8, "forward",
                                device=device, xla=True)  # fmt: skip
                    store.record(
                        "odd", cell, _timing(1e-3 * kernel[0] * shape[0] / 8, 10 * kernel[0] ** 2)
                    )
        for seed in (0, 1):
            cell = Cell(
                "mlp", (("units", 4),), (3,), 8, "fit", fit=FitSettings("moons", 2, seed=seed)
            )
            curves = {"train_loss": [1.0, None], "val_loss": [1.0, 2.0]}
            fit = FitResult(
                params=20, metric="accuracy", epochs_run=2, curves=curves, final_val_metric=None,
                best_val_metric=None, best_epoch=None, test_metric=None, gap_end=None,
                gap_best=None, onset_epoch=None, memorisation=0.5, fit_wall_s=1.0,
            )  # fmt: skip
            result = (
                CellResult("failed", reason="diverged\nat epoch 2")
                if seed
                else CellResult("ok", fit=fit)
            )
            store.record("odd", cell, result)
        path = write_report(store, "odd", tmp_path)
    text = path.read_text(encoding="utf-8")
    assert "- **conv (gpu)**: raising kernel 3x3→5x5 multiplies params by 2.8×" in text
    assert "| 3x3      | 16x16x1 |       90 |      1.00 kFLOP | 6.00 ± 0.00 ms |" in text
    assert "| 4       | moons  |  1 of 2 |       20 |         never |          0.500 |" in text
    assert "| mlp units=4 b8 fit cpu moons seed=1 | failed   | diverged |" in text
    assert "No capacity ran both with and without XLA: no speedup heatmap." in text
