"""The smoke preset end to end through the CLI (real workers, real TensorFlow), and the
commands that read its store."""

import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.results.rows import CELL_COLUMNS
from bench.results.store import Store, store_path
from bench.spec.config import load
from bench.spec.reference import is_reference
from blockbench.cli import main

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
ROUNDS = 2  # fewer than the preset's, to keep the suite fast; each in a fresh worker


def blockbench(*args, out):
    return subprocess.run(
        [sys.executable, "-m", "blockbench", "--out", str(out), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke")
    done = blockbench("run", "smoke", "--rounds", str(ROUNDS), out=out)
    assert done.returncode == 0, done.stderr[-3000:]
    with Store(store_path(out)) as store:
        (run,) = store.runs()
        cells = {s.cell.cell_id: s for s in store.cells(run.run_id)}
    return out, run, cells, done


def test_smoke_run_measures_every_cell(smoke):
    out, run, cells, done = smoke
    spec = load("smoke")
    assert set(cells) == {c.cell_id for c in spec.cells}
    references = [c for c in spec.cells if is_reference(c)]
    cpu = [c.pass_ for c in references if c.device == "cpu"]
    assert cpu == ["forward", "train"]  # measured with every run (GPU ones skipped here)
    assert run.finished_at is not None and run.env["cores"] > 0
    for stored in cells.values():
        cell, result = stored.cell, stored.result
        if cell.device == "gpu":
            assert (result.status, result.reason) == ("skipped", "no GPU visible")
            continue
        assert result.status == "ok", (cell.label, result.reason, result.traceback)
        if cell.pass_ == "fit":
            assert result.fit.epochs_run == cell.fit.epochs
            continue
        timing = result.timing
        assert [r.round for r in timing.rounds] == list(range(1, ROUNDS + 1))
        assert len({r.pid for r in timing.rounds}) == ROUNDS  # a fresh worker per round
        # every round: its first visit, then the sweeps, `repeats` samples per visit
        assert [r.visits for r in timing.rounds] == [spec.settings.visits] * ROUNDS
        assert len(timing.samples_s) == spec.settings.repeats * spec.settings.visits * ROUNDS
        assert len(timing.warmup_s) == spec.settings.warmup * ROUNDS
        assert len({r.steps_per_sample for r in timing.rounds}) == 1  # K kept across rounds
        assert timing.steps_per_sample >= 1 and min(timing.samples_s) > 0
        # each sample lasted at least the configured minimum (K was calibrated)
        assert min(timing.samples_s) * timing.steps_per_sample >= 0.5 * spec.settings.min_sample_s
        assert timing.compile_s > 0 and timing.build_s > 0
        if is_reference(cell):  # sampled in every sweep; no extras
            assert timing.fit_step_s is None and timing.memory is None
            assert all(r.timed for r in timing.rounds)
            continue
        assert timing.fit_step_s > 0
        assert timing.memory.peak_bytes > 0
        if cell.xla:
            assert timing.xla_max_abs_diff is not None and timing.xla_max_abs_diff < 1e-3
        if cell.profile:
            assert Path(timing.profile.profile_path).exists()
    assert "report: " in done.stdout
    report = Path(done.stdout.split("report: ")[1].splitlines()[0])
    assert report.exists() and report.stat().st_size > 0
    # the run line says how long each phase took; the report splits the wall by phase
    assert re.search(r"; rounds (\d+m)?\d+s; extras (\d+m)?\d+s", done.stdout), done.stdout
    text = report.read_text()
    assert "## Where the time went" in text
    timed = sum(s.result.timing is not None for s in cells.values())  # references too
    assert f"| round {ROUNDS} ({timed} cells, {spec.settings.visits} visits)" in text


def test_export_csv_has_one_row_per_cell_with_required_columns(smoke):
    out, run, cells, _ = smoke
    done = blockbench("export", run.run_id, "--format", "csv", out=out)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert len(rows) == len(cells)
    required = (
        "cell_id block knobs input_shape batch_size pass device xla status reason params "
        "flops build_s compile_s step_s_median step_s_iqr step_s_min samples_per_s "
        "gflops_per_s pct_of_peak fit_step_s xla_max_abs_diff"
    ).split()
    assert set(required) <= set(rows[0])
    assert list(rows[0]) == list(CELL_COLUMNS)
    ok = [r for r in rows if r["status"] == "ok" and r["pass"] != "fit"]
    assert all(float(r["step_s_median"]) > 0 and float(r["pct_of_peak"]) > 0 for r in ok)


def test_export_json_fits_and_curves(smoke):
    out, run, cells, _ = smoke
    fits = json.loads(
        blockbench("export", run.run_id, "--format", "json", "--table", "fits", out=out).stdout
    )
    curves = json.loads(
        blockbench("export", run.run_id, "--format", "json", "--table", "curves", out=out).stdout
    )
    assert len(fits) == sum(1 for s in cells.values() if s.cell.pass_ == "fit")
    assert fits[0]["params"] > 0 and fits[0]["dataset"] == "digits"
    assert len(curves) == sum(f["epochs_run"] for f in fits)


def test_pytest_benchmark_export_is_read_by_pytest_benchmark_compare(smoke, tmp_path):
    out, run, cells, _ = smoke
    target = tmp_path / "0001_smoke.json"
    done = blockbench(
        "export", run.run_id, "--format", "pytest-benchmark", "--output", str(target), out=out
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(target.read_text())
    timing = [s for s in cells.values() if s.result.timing is not None]
    assert len(data["benchmarks"]) == len(timing)
    compare = subprocess.run(
        [sys.executable, "-c", "from pytest_benchmark.cli import main; main()", "compare",
         str(target), "--columns=min,median,rounds"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert compare.returncode == 0, compare.stderr
    assert "test_cell[" in compare.stdout


def test_runs_lists_the_finished_run(smoke, capsys):
    out, run, _, _ = smoke
    assert main(["--out", str(out), "runs"]) == 0
    listing = capsys.readouterr().out
    assert run.run_id in listing and "finished" in listing


def test_list_dry_run_and_shard(capsys):
    assert main(["list", "smoke"]) == 0
    listing = capsys.readouterr().out
    total = len(load("smoke").cells)
    assert f"{total} cells from preset:smoke" in listing
    assert main(["run", "smoke", "--dry-run", "--shard", "1/2"]) == 0
    dry = capsys.readouterr().out
    assert f"{(total + 1) // 2} cells would run (dry run: nothing measured)" in dry


def test_cli_errors_are_clear_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[matrix]]\nblock = "conv"\ninput_shape = [8, 8, 1]\nfilter = 8\nbatch_size = 2\n'
    )
    assert main(["--out", str(tmp_path), "run", str(bad)]) == 2
    assert "unknown key 'filter'; did you mean 'filters'?" in capsys.readouterr().err
    assert not (tmp_path / "blockbench.sqlite").exists()  # nothing ran, nothing was created
    assert main(["--out", str(tmp_path), "export", "nope"]) == 2
    assert "no results store at" in capsys.readouterr().err


def test_unknown_run_id_names_the_latest_runs(smoke, capsys):
    out, run, _, _ = smoke
    assert main(["--out", str(out), "export", "nope"]) == 2
    assert (
        f"no run 'nope' in {out}/blockbench.sqlite (latest: {run.run_id})"
        in capsys.readouterr().err
    )


def test_report_command_writes_markdown_and_plots(smoke, tmp_path, capsys):
    out, _, _, _ = smoke
    assert main(["--out", str(out), "report", "latest", "--report-dir", str(tmp_path)]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path == tmp_path / "report.md" and path.read_text().startswith("# ")
    assert sorted(p.suffix for p in tmp_path.iterdir()).count(".png") >= 3


def test_blocks_command_prints_the_capacity_table(capsys):
    assert main(["blocks"]) == 0
    table = capsys.readouterr().out
    assert "| conv " in table and "| transformer " in table
    assert "seed example 1 (conv, as written)" in table and "5,386" in table
