"""Progress display, plugins, environment fingerprint and flat rows."""

import io

import pytest

from bench.orchestrate.env import fingerprint
from bench.orchestrate.progress import ProgressLine, format_duration
from bench.results.records import CellResult, TimingResult
from bench.results.rows import cell_row
from bench.results.store import StoredCell
from bench.spec.cell import Cell
from bench.spec.plugins import load_plugins

CELL = Cell("dense", (("units", 8),), (4,), 2, "train")


def test_progress_lines_show_cell_status_and_eta():
    out = io.StringIO()
    clock = iter([0.0, 30.0, 30.0, 60.0]).__next__
    bar = ProgressLine(out, tty=False, clock=clock)
    bar(0, 2, CELL, None)
    bar(1, 2, CELL, CellResult("ok"))
    bar(1, 2, CELL, None)
    bar(2, 2, CELL, CellResult("failed", reason="boom"))
    assert out.getvalue().splitlines() == [
        "[1/2] dense units=8 b2 train cpu: ok ETA 30s",
        "[2/2] dense units=8 b2 train cpu: failed: boom ETA 0s",
    ]


def test_format_duration():
    assert [format_duration(s) for s in (0.4, 59, 61, 3600)] == ["0s", "59s", "1m01s", "1h00m"]


def test_plugins_load_from_path_and_errors(tmp_path):
    plugin = tmp_path / "extra.py"
    plugin.write_text("LOADED = True\n")
    (module,) = load_plugins(str(plugin))
    assert module.LOADED
    with pytest.raises(ValueError, match="no such plugin file"):
        load_plugins(str(tmp_path / "missing.py"))
    with pytest.raises(ValueError, match="cannot import 'no_such_module_xyz'"):
        load_plugins("no_such_module_xyz")


def test_fingerprint_has_the_keys_a_comparison_needs():
    fp = fingerprint(tf32=False)
    for key in ("cpu_model", "cores", "python", "tensorflow", "keras", "git_commit", "tf32"):
        assert key in fp
    assert fp["machine"] and fp["python_compiler"]


def test_cell_row_derives_throughput_flops_and_percent_of_peak():
    timing = TimingResult(params=10, params_trainable=10, flops=100, flops_per_step=600,
                          build_s=0.1, compile_s=1.0, steps_per_sample=10,
                          samples_s=(1e-6, 2e-6, 3e-6))  # fmt: skip
    row = cell_row(StoredCell("r", CELL, CellResult("ok", timing=timing), 0.0), {"cpu": 1e9})
    assert row["step_s_median"] == 2e-6
    assert row["samples_per_s"] == pytest.approx(2 / 2e-6)
    assert row["gflops_per_s"] == pytest.approx(600 / 2e-6 / 1e9)
    assert row["pct_of_peak"] == pytest.approx(100 * 600 / 2e-6 / 1e9)
    assert row["noisy"] is True  # IQR 1e-6 over median 2e-6


def test_resume_command_repeats_the_arguments():
    from bench.cli import _resume_command, build_parser

    argv = ["--out", "o", "run", "quick", "--shard", "2/4", "--profile", "--new"]
    args = build_parser().parse_args(argv)
    args.argv = argv
    assert _resume_command(args, "R1") == (
        "blockbench --out o run quick --shard 2/4 --profile --resume R1"
    )
