"""The report's profile section, from a hand-made store (no TensorFlow)."""

from __future__ import annotations

from bench.results.records import CellResult, MemoryResult, ProfileResult
from bench.results.store import Store
from bench.spec.cell import Cell
from reports.frames import load_run
from reports.profiles import profiles_section
from tests.records import timing_result

PROFILED = Cell("transformer", (("depth", 1),), (16, 32), 8, "train", profile=True)
PLAIN = Cell("dense", (("units", 16),), (32,), 8, "train")
PROFILE = ProfileResult(
    profile_path="/out/r1/tensorboard/plugins/profile/slug/vm.xplane.pb",
    profile_peak_bytes=3 * 2**20,
    top_ops=(
        {"op": "mha/MatMul", "type": "BatchMatMulV2", "self_time_us": 250.0, "pct": 40.0},
        {"op": "dense/MatMul", "type": "MatMul", "self_time_us": 125.0, "pct": 20.0},
    ),
    top_alloc_ops=({"op": "mha/Softmax", "bytes": 2**20, "basis": "live at peak"},),
)


def memory(peak: int) -> MemoryResult:
    return MemoryResult(peak, "CPU:0 BFC", 500 * 2**20, peak // 2, {"weights": peak // 2})


def result(profile: ProfileResult | None, peak: int) -> CellResult:
    timing = timing_result(
        params=100, params_trainable=100, flops=1000, flops_per_step=3000,
        samples_s=(1e-3, 1.1e-3), memory=memory(peak), profile=profile,
    )  # fmt: skip
    return CellResult("ok", timing=timing)


def run_data(tmp_path, cells):
    store = Store(tmp_path / "s.sqlite")
    store.create_run("r1", name="n", config_hash="h", config={}, env={}, total_cells=len(cells))
    for cell, cell_result in cells:
        store.record("r1", cell, cell_result)
    return load_run(store, "r1")


def test_a_profiled_cell_gets_its_ops_allocations_peaks_and_command(tmp_path):
    data = run_data(
        tmp_path, [(PROFILED, result(PROFILE, 2 * 2**20)), (PLAIN, result(None, 2**20))]
    )
    text = profiles_section(data, out_dir="/out")
    assert "`blockbench --out /out tensorboard r1`" in text
    assert f"### {PROFILED.label}" in text and f"`{PROFILED.slug}`" in text
    assert PLAIN.label not in text  # not profiled: not listed
    assert "profile 3.00 MiB, allocator 2.00 MiB (profile / allocator 1.5×)" in text
    lines = text.splitlines()
    ops = [line for line in lines if line.startswith("| ") and "MatMul" in line]
    assert ops[0].startswith("| mha/MatMul ") and "250 µs" in ops[0] and "40.0%" in ops[0]
    assert ops[1].startswith("| dense/MatMul ")  # ranked as stored: most self time first
    assert any(line.startswith("| mha/Softmax ") and "1.00 MiB" in line for line in lines)


def test_unreadable_parts_and_no_profiles(tmp_path):
    broken = ProfileResult(
        profile_path="p",
        top_ops=({"error": "framework_op_stats: boom"},),
        top_alloc_ops=({"error": "memory_profile: no allocator recorded memory events"},),
    )
    text = profiles_section(run_data(tmp_path, [(PROFILED, result(broken, 2**20))]))
    assert "`blockbench tensorboard r1`" in text
    assert "Ops could not be read from the profile: framework_op_stats: boom" in text
    assert "profile —, allocator" in text and "profile / allocator —" in text
    assert profiles_section(run_data(tmp_path / "b", [(PLAIN, result(None, 2**20))])) == ""
