"""The Ray executor on a local cluster (``ray.init(num_cpus=2)``), with the stub worker:
a small fit sweep streams into the store, one task's Ray worker is killed mid-cell, and
nothing finished is lost; a resume runs nothing again; timing cells are refused without
--whole-node and recorded with their node with it. Runs in ``tox -e ray``."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="ray is not installed (tox -e ray runs these)")

from bench.orchestrate.ray_executor import RayExecutor  # noqa: E402
from bench.orchestrate.runner import Runner  # noqa: E402
from bench.results.store import Store, store_path  # noqa: E402
from bench.spec.config import loads  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = str(ROOT / "tests" / "plugins" / "fault_blocks.py")

SWEEP = """
[run]
timeout_s = 120
memory = false
fit_step = false

[[matrix]]
block = "fault"
pass = "fit"
mode = "ok"
dataset = "digits"
epochs = 1
batch_size = [8, 16, 32, 64]
seeds = [0, 1]

[[matrix]]
block = "fault"
pass = "fit"
mode = "sleep"
seconds = 60.0
dataset = "digits"
epochs = 1
batch_size = 128
"""

TIMING = """
[run]
rounds = 2
repeats = 2
warmup = 0
min_sample_s = 0.01
memory = false
fit_step = false

[[matrix]]
block = "dense"
input_shape = [8]
units = [4, 8]
batch_size = 2
pass = "train"
"""


@pytest.fixture(scope="module")
def cluster():
    os.environ["BLOCKBENCH_PLUGINS"] = PLUGIN
    os.environ["BLOCKBENCH_WORKER_MODULE"] = "tests.stub_worker"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"BLOCKBENCH_PLUGINS": PLUGIN,
                                       "BLOCKBENCH_WORKER_MODULE": "tests.stub_worker",
                                       "PYTHONPATH": str(ROOT)}})  # fmt: skip
    yield
    ray.shutdown()


def _kill_when_running(run_dir: Path, cell_id: str, killed: list[int]) -> None:
    mark = run_dir / "ray-tasks" / f"{cell_id}.pid"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if mark.exists() and mark.read_text():
            time.sleep(1.0)  # mid-cell: the stub worker is sleeping inside its fit
            pid = int(mark.read_text())
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            return
        time.sleep(0.1)


def test_a_killed_task_fails_its_cell_and_loses_nothing_finished(cluster, tmp_path):
    spec = loads(SWEEP, source="sweep.toml", name="sweep")
    store = Store(store_path(tmp_path))
    run_id = Runner(store, tmp_path).prepare(spec)
    sleeper = next(c for c in spec.cells if c.knob_dict["mode"] == "sleep")
    killed: list[int] = []
    killer = threading.Thread(target=_kill_when_running,
                              args=(tmp_path / run_id, sleeper.cell_id, killed))  # fmt: skip
    killer.start()
    executor = RayExecutor(store, tmp_path)
    summary = executor.run(spec, run_id)
    killer.join()
    assert killed, "the sleeping cell never started"
    results = {s.cell.cell_id: s.result for s in store.cells(run_id)}
    assert len(results) == len(spec.cells) == 9
    assert results[sleeper.cell_id].status == "failed"
    assert results[sleeper.cell_id].reason.startswith("Ray task failed")
    assert {r.status for cid, r in results.items() if cid != sleeper.cell_id} == {"ok"}
    assert summary.counts == {"ok": 8, "failed": 1}
    again = executor.run(spec, run_id)  # resume: everything is stored, nothing runs
    assert again.ran == 0 and again.skipped_done == 9


def test_timing_cells_need_a_whole_node_and_record_it(cluster, tmp_path):
    spec = loads(TIMING, source="timing.toml", name="timing")
    store = Store(store_path(tmp_path))
    run_id = Runner(store, tmp_path).prepare(spec)
    with pytest.raises(ValueError, match="cannot run on Ray beside other tasks"):
        RayExecutor(store, tmp_path).run(spec, run_id)
    assert store.cells(run_id) == []
    RayExecutor(store, tmp_path, whole_node=True).run(spec, run_id)
    cells = store.cells(run_id)
    assert {c.result.status for c in cells} == {"ok"}
    hosts = {r.host for c in cells for r in c.result.timing.rounds}
    assert hosts == {os.uname().nodename}
    assert all(len(c.result.timing.rounds) == 2 for c in cells)


def test_an_unreachable_address_fails_fast_and_clearly(tmp_path):
    config = tmp_path / "sweep.toml"
    config.write_text(SWEEP)
    env = {**os.environ, "BLOCKBENCH_PLUGINS": PLUGIN}
    start = time.monotonic()
    command = [sys.executable, "-m", "blockbench", "--out", str(tmp_path), "run", str(config),
               "--executor", "ray", "--address", "127.0.0.1:9"]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "no Ray cluster reachable at 127.0.0.1:9" in done.stderr
    assert time.monotonic() - start < 60
