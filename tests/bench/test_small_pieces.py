"""Progress display, plugins, environment fingerprint and flat rows."""

import io
import re

import pytest

from bench.orchestrate.env import fingerprint
from bench.orchestrate.progress import ProgressDisplay
from bench.results.records import CellResult
from bench.results.rows import cell_row
from bench.results.store import StoredCell
from bench.results.text import format_duration
from bench.spec.cell import Cell
from bench.spec.plugins import load_plugins
from tests.records import timing_result

CELL = Cell("dense", (("units", 8),), (4,), 2, "train")


def test_progress_lines_show_cell_status_and_eta():
    out = io.StringIO()
    clock = iter([0.0, 30.0, 30.0, 60.0]).__next__
    bar = ProgressDisplay(out, tty=False, clock=clock)
    bar(0, 2, CELL, None)
    bar(1, 2, CELL, CellResult("ok"))
    bar(1, 2, CELL, None)
    bar(2, 2, CELL, CellResult("failed", reason="boom"))
    assert out.getvalue().splitlines() == [
        "[1/2] dense units=8 b2 train cpu: ok ETA 30s",
        "[2/2] dense units=8 b2 train cpu: failed: boom ETA 0s",
    ]


def test_progress_bar_on_a_terminal_shows_fraction_eta_and_failures():
    out, now = io.StringIO(), [0.0]
    with ProgressDisplay(out, tty=True, clock=lambda: now[0]) as bar:
        bar(0, 3, CELL, None)
        now[0] = 60.0
        bar(1, 3, CELL, CellResult("ok"))
        bar(1, 4, CELL, None)  # a round was added: the total grows
        now[0] = 120.0
        bar(2, 4, CELL, CellResult("failed", reason="[boom]"))
    text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", out.getvalue())  # colours, cursor
    assert "ok dense units=8 b2 train cpu" in text
    assert "failed: [boom] dense units=8 b2 train cpu" in text
    assert text.rstrip().endswith("2/4 0:02:00 ETA 2m00s"), text[-200:]  # 2 left, 1 min each


def test_format_duration():
    assert [format_duration(s) for s in (0.4, 59, 61, 3599.6, 3600, 7300)] == [
        "0s", "59s", "1m01s", "1h00m", "1h00m", "2h01m"
    ]  # fmt: skip


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
    timing = timing_result(params=10, params_trainable=10, flops=100, flops_per_step=600,
                          build_s=0.1, compile_s=1.0, steps_per_sample=10,
                          samples_s=(1e-6, 2e-6, 3e-6))  # fmt: skip
    row = cell_row(StoredCell("r", CELL, CellResult("ok", timing=timing), 0.0), {"cpu": 1e9})
    assert row["step_s_median"] == 2e-6
    assert row["samples_per_s"] == pytest.approx(2 / 2e-6)
    assert row["gflops_per_s"] == pytest.approx(600 / 2e-6 / 1e9)
    assert row["pct_of_peak"] == pytest.approx(100 * 600 / 2e-6 / 1e9)
    assert row["noisy"] is True  # IQR 1e-6 over median 2e-6


def test_resume_command_repeats_the_arguments():
    from blockbench.cli import _resume_command, build_parser

    argv = ["--out", "o", "run", "quick", "--shard", "2/4", "--profile", "--new"]
    args = build_parser().parse_args(argv)
    args.argv = argv
    assert _resume_command(args, "R1") == (
        "blockbench --out o run quick --shard 2/4 --profile --resume R1"
    )
