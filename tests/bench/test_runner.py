"""Isolation, faults and resume, through real worker processes (TensorFlow in each)."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from bench.orchestrate.runner import Runner, RunnerError, shard
from bench.results.store import Store, store_path
from bench.spec.config import loads

PLUGIN = str(Path(__file__).resolve().parent.parent / "plugins" / "fault_blocks.py")
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

RUN = """
[run]
repeats = 2
warmup = 0
min_sample_s = 0.01
fit_step = false
memory = false
timeout_s = {timeout}
memory_limit_gb = 3.0
"""


def fault_config(modes, timeout=60, seconds=0.0):
    tables = "".join(
        f'\n[[matrix]]\nblock = "fault"\ninput_shape = [4]\nmode = "{mode}"\n'
        f'batch_size = {index + 1}\npass = "forward"\nseconds = {seconds}\n'
        for index, mode in enumerate(modes)
    )
    return RUN.format(timeout=timeout) + tables


@pytest.fixture(autouse=True)
def fault_plugin(monkeypatch):
    monkeypatch.setenv("BLOCKBENCH_PLUGINS", PLUGIN)


def run_spec(tmp_path, text):
    spec = loads(text, source="faults.toml", name="faults")
    store = Store(store_path(tmp_path))
    runner = Runner(store, tmp_path)
    run_id = runner.prepare(spec)
    summary = runner.run(spec, run_id)
    return spec, store, run_id, summary


def results_by_mode(store, run_id):
    return {s.cell.knob_dict["mode"]: s.result for s in store.cells(run_id)}


def test_crashes_hangs_and_oom_are_failures_and_the_run_goes_on(tmp_path):
    modes = ["ok", "raise", "exit", "segfault", "hang", "oom", "ok"]
    text = fault_config(modes, timeout=12)
    spec, store, run_id, summary = run_spec(tmp_path, text)
    results = [s.result for s in sorted(store.cells(run_id), key=lambda s: s.cell.batch_size)]
    statuses = [r.status for r in results]
    assert statuses == ["ok", "failed", "failed", "failed", "failed", "failed", "ok"]
    reasons = [r.reason for r in results]
    assert reasons[1] == "RuntimeError: fault block raised on purpose"
    assert "fault block raised on purpose" in results[1].traceback
    assert reasons[2] == "worker exited with code 3"
    assert reasons[3].startswith("worker crashed: killed by SIGSEGV")
    assert reasons[4] == "timeout: no result after 12 s (worker killed)"
    assert reasons[5].startswith("out of memory: worker RSS")
    assert "--- cell" in results[3].traceback  # the worker's log tail is kept
    assert summary.counts == {"ok": 2, "failed": 5}
    assert store.run(run_id).finished_at is not None


def test_a_worker_killed_from_outside_fails_only_its_cell(tmp_path):
    text = fault_config(["sleep", "ok"], seconds=30.0)
    spec = loads(text, source="kill.toml", name="kill")
    store = Store(store_path(tmp_path))
    runner = Runner(store, tmp_path)
    run_id = runner.prepare(spec)

    def kill_worker_when_busy():
        log = tmp_path / run_id / "worker.log"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if log.exists() and "--- cell" in log.read_text(errors="replace"):
                for child in psutil.Process().children(recursive=True):
                    if "bench.worker" in " ".join(child.cmdline()):
                        child.kill()
                        return
            time.sleep(0.2)

    killer = threading.Thread(target=kill_worker_when_busy)
    killer.start()
    runner.run(spec, run_id)
    killer.join()
    results = results_by_mode(store, run_id)
    assert results["sleep"].status == "failed"
    assert "killed by SIGKILL" in results["sleep"].reason
    assert results["ok"].status == "ok"


def test_killed_runner_keeps_finished_cells_and_resume_runs_only_missing(tmp_path):
    config = tmp_path / "resume.toml"
    config.write_text(fault_config(["ok", "sleep", "ok"], seconds=8.0))
    env = {**os.environ, "BLOCKBENCH_PLUGINS": PLUGIN, "PYTHONPATH": str(ROOT)}
    command = [
        sys.executable,
        "-m",
        "bench.cli",
        "--out",
        str(tmp_path),
        "run",
        str(config),
        "--no-report",
        "--quiet",
    ]
    runner = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    first_done = None
    while time.monotonic() < deadline and first_done is None:
        time.sleep(0.5)
        if store_path(tmp_path).exists():
            with Store(store_path(tmp_path)) as store:
                runs = store.runs()
                if runs and runs[0].done_cells >= 1:
                    first_done = {
                        s.cell.cell_id: s.finished_at for s in store.cells(runs[0].run_id)
                    }
    assert first_done, "the first cell never finished"
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    time.sleep(1.0)  # the worker dies with its parent (PR_SET_PDEATHSIG)
    assert not [
        p
        for p in psutil.process_iter(["cmdline"])
        if "bench.worker" in " ".join(p.info["cmdline"] or [])
        and str(tmp_path) in " ".join(p.info["cmdline"] or [])
    ]
    again = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert again.returncode == 0, again.stderr
    assert "1 already done" in again.stdout
    with Store(store_path(tmp_path)) as store:
        (run,) = store.runs()
        cells = {s.cell.cell_id: s for s in store.cells(run.run_id)}
    assert len(cells) == 3 and run.finished_at is not None
    for cell_id, finished_at in first_done.items():
        assert cells[cell_id].finished_at == finished_at  # not run again


def test_workers_that_cannot_start_fail_their_cells_then_stop_the_run(tmp_path):
    spec = loads(fault_config(["ok"] * 5), source="nostart.toml", name="nostart")
    store = Store(store_path(tmp_path))
    runner = Runner(store, tmp_path, python="/bin/false")
    run_id = runner.prepare(spec)
    with pytest.raises(RunnerError, match="3 workers in a row failed to start"):
        runner.run(spec, run_id)
    results = [s.result for s in store.cells(run_id)]
    assert len(results) == 3  # recorded, not lost; the other cells stay missing for a resume
    assert all(r.status == "failed" for r in results)
    assert results[0].reason == "worker failed to start: worker exited with code 1"


def test_reusing_a_run_id_checks_the_config(tmp_path):
    spec = loads(fault_config(["ok"]), source="a.toml", name="a")
    other = loads(fault_config(["ok", "ok"]), source="b.toml", name="b")
    runner = Runner(Store(store_path(tmp_path)), tmp_path)
    assert runner.prepare(spec, run_id="nightly") == "nightly"
    assert runner.prepare(spec, run_id="nightly") == "nightly"  # same config: same run
    with pytest.raises(ValueError, match="made from a different config"):
        runner.prepare(other, run_id="nightly")
    runner.store.finish_run("nightly")
    with pytest.raises(ValueError, match="already finished"):
        runner.prepare(spec, run_id="nightly")


def test_shards_partition_the_cells():
    spec = loads(fault_config(["ok"] * 7), source="s.toml")
    parts = [shard(spec.cells, k, 3) for k in (1, 2, 3)]
    ids = [c.cell_id for part in parts for c in part]
    assert sorted(ids) == sorted(c.cell_id for c in spec.cells)
    assert max(len(p) for p in parts) - min(len(p) for p in parts) <= 1
    assert [c.cell_id for c in shard(spec.cells, 2, 3)] == [c.cell_id for c in parts[1]]
    with pytest.raises(ValueError, match="1 <= K <= N"):
        shard(spec.cells, 4, 3)
