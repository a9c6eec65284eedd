"""Isolation, faults, rounds and resume, through worker processes that speak the real
protocol: the stub worker (tests/stub_worker.py, no TensorFlow, starts at once). The real
worker runs end to end in tests/bench/test_cli.py."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from bench.orchestrate.runner import Runner, RunnerError, round_order, shard
from bench.results.store import Store, store_path
from bench.spec.config import loads
from bench.spec.reference import is_reference

PLUGIN = str(Path(__file__).resolve().parent.parent / "plugins" / "fault_blocks.py")
ROOT = Path(__file__).resolve().parents[2]

STUB = "tests.stub_worker"

RUN = """
[run]
reference = false
repeats = 2
warmup = 0
min_sample_s = 0.01
fit_step = false
memory = false
timeout_s = {timeout}
memory_limit_gb = 1.0
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
    monkeypatch.setenv("BLOCKBENCH_WORKER_MODULE", STUB)


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
    text = fault_config(modes, timeout=3)
    spec, store, run_id, summary = run_spec(tmp_path, text)
    results = [s.result for s in sorted(store.cells(run_id), key=lambda s: s.cell.batch_size)]
    statuses = [r.status for r in results]
    assert statuses == ["ok", "failed", "failed", "failed", "failed", "failed", "ok"]
    reasons = [r.reason for r in results]
    assert reasons[1] == "RuntimeError: fault block raised on purpose"
    assert "fault block raised on purpose" in results[1].traceback
    assert reasons[2] == "worker exited with code 3"
    assert reasons[3].startswith("worker crashed: killed by SIGSEGV")
    assert reasons[4] == "timeout: no result after 3 s (worker killed)"
    assert reasons[5].startswith("out of memory: worker RSS")
    assert "--- round" in results[3].traceback  # the worker's log tail is kept
    assert summary.counts == {"ok": 2, "failed": 5}
    assert store.run(run_id).finished_at is not None
    # Good cells got every round, each in its own worker; failed cells were not retried.
    assert [len({r.pid for r in res.timing.rounds}) for res in (results[0], results[6])] == [3, 3]
    log = (tmp_path / run_id / "worker.log").read_text()
    stored = store.cells(run_id)
    by_mode = {s.cell.knob_dict["mode"] + str(s.cell.batch_size): s.cell for s in stored}
    assert log.count(f"--- round {by_mode['raise2'].cell_id}") == 1
    assert log.count(f"--- round {by_mode['ok1'].cell_id}") == 3
    assert log.count(f"--- extras {by_mode['ok1'].cell_id}") == 1


def test_rounds_run_in_fresh_workers_in_a_recorded_shuffled_order(tmp_path):
    spec, store, run_id, _ = run_spec(tmp_path, fault_config(["ok"] * 6))
    rounds = [r for s in store.cells(run_id) for r in s.result.timing.rounds]
    assert len(rounds) == 6 * 3
    pids = {n: {r.pid for r in rounds if r.round == n} for n in (1, 2, 3)}
    assert all(len(p) == 1 for p in pids.values())  # one worker per round ...
    assert len(set.union(*pids.values())) == 3  # ... and a fresh one each round
    positions = {
        n: [cid for _, cid in sorted((r.position, s.cell.cell_id) for s in store.cells(run_id)
                                     for r in s.result.timing.rounds if r.round == n)]
        for n in (1, 2, 3)
    }  # fmt: skip
    expected = {n: [c.cell_id for c in round_order(spec.cells, spec.settings, n)] for n in pids}
    assert positions == expected
    assert positions[1] != positions[2]  # shuffled differently each round
    canaries = store.canaries(run_id)
    assert [c["when"] for c in canaries] == ["before round"] * 3 + ["end"]
    assert "machine" not in canaries[0] and all("machine" in c for c in canaries[1:])


def test_the_reference_is_sampled_in_every_visit_block_and_its_blocks_join_per_round(
    tmp_path, monkeypatch
):
    monkeypatch.setattr("bench.orchestrate.runner.VISIT_BLOCK", 3)  # 7 cells: 3 blocks
    text = fault_config(["ok"] * 7).replace("reference = false", "reference = true\nvisits = 2")
    spec, store, run_id, summary = run_spec(tmp_path, text)
    stored = {s.cell.cell_id: s for s in store.cells(run_id)}
    references = [s for s in stored.values() if is_reference(s.cell)]
    assert [s.cell.pass_ for s in references] == ["forward", "train"]
    assert all(s.result.status == "ok" for s in stored.values())
    others = [s for s in stored.values() if not is_reference(s.cell)]
    for reference in references:
        timing = reference.result.timing
        assert [r.round for r in timing.rounds] == [1, 2, 3]
        for round_ in timing.rounds:
            # 3 blocks x 2 visits x (3 samples on the first visit, 2 on the second)
            assert round_.visits == 3 * 2 and len(round_.samples_s) == 3 * (3 + 2)
            assert round_.timed and list(round_.sampled_at) == sorted(round_.sampled_at)
            cells = [r for s in others for r in s.result.timing.rounds if r.round == round_.round]
            first = min(min(r.sampled_at) for r in cells)
            last = max(max(r.sampled_at) for r in cells)
            assert round_.sampled_at[0] <= first + 1.0 and round_.sampled_at[-1] >= last - 1.0
    assert all(len(s.result.timing.rounds[0].samples_s) == 3 + 2 for s in others)


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
            if log.exists() and "--- round" in log.read_text(errors="replace"):
                for child in psutil.Process().children(recursive=True):
                    if STUB in " ".join(child.cmdline()):
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


def test_killed_runner_keeps_finished_rounds_and_resume_runs_only_missing(tmp_path):
    config = tmp_path / "resume.toml"
    config.write_text(fault_config(["ok", "sleep", "ok"], seconds=1.0))
    env = {**os.environ, "BLOCKBENCH_PLUGINS": PLUGIN, "PYTHONPATH": str(ROOT),
           "BLOCKBENCH_WORKER_MODULE": STUB}  # fmt: skip
    command = [sys.executable, "-m", "blockbench", "--out", str(tmp_path), "run", str(config),
               "--no-report", "--quiet"]  # fmt: skip
    runner = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    stored: dict = {}
    while time.monotonic() < deadline and sum(len(r) for r in stored.values()) < 4:
        time.sleep(0.2)
        if store_path(tmp_path).exists():
            with Store(store_path(tmp_path)) as store:
                runs = store.runs()
                stored = store.rounds(runs[0].run_id) if runs else {}
    assert sum(len(r) for r in stored.values()) >= 4, "rounds were never stored"
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    time.sleep(1.0)  # the worker dies with its parent (PR_SET_PDEATHSIG)
    assert not [
        p
        for p in psutil.process_iter(["cmdline"])
        if STUB in " ".join(p.info["cmdline"] or [])
        and str(tmp_path) in " ".join(p.info["cmdline"] or [])
    ]
    with Store(store_path(tmp_path)) as store:
        kept = store.rounds(store.runs()[0].run_id)  # what the killed run had finished
    again = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert again.returncode == 0, again.stderr
    with Store(store_path(tmp_path)) as store:
        (run,) = store.runs()  # resumed, not a new run
        cells = {s.cell.cell_id: s for s in store.cells(run.run_id)}
    assert len(cells) == 3 and run.finished_at is not None
    for cell_id, rounds in kept.items():
        final = {r.round: r for r in cells[cell_id].result.timing.rounds}
        assert sorted(final) == [1, 2, 3]
        for number, reply in rounds.items():  # stored rounds were kept, not measured again
            assert final[number].pid == reply["round"]["pid"]
    log = (tmp_path / run.run_id / "worker.log").read_text()
    # Each cell's 3 rounds ran once, but for the one in flight when the runner died.
    assert sum(log.count(f"--- round {cid}") for cid in cells) in (9, 10)


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


def test_visits_spread_a_rounds_samples_over_interleaved_visits(tmp_path):
    text = fault_config(["ok"] * 3).replace("repeats = 2", "repeats = 2\nvisits = 3")
    spec, store, run_id, _ = run_spec(tmp_path, text)
    for item in store.cells(run_id):
        rounds = item.result.timing.rounds
        assert len(rounds) == 3
        for round_ in rounds:
            assert round_.visits == 3
            # the stub's first visit gives 3 samples; each later visit `repeats` (2) more,
            # from the program it kept; the slow first call after the block was built (3x,
            # as in the stub) is discarded as warm-up, not kept as a sample
            first, later = round_.samples_s[:3], round_.samples_s[3:]
            assert later == (first[0] * 1.002,) * 4
            # every sample keeps its start time, in the order the samples were taken
            assert round_.timed and list(round_.sampled_at) == sorted(round_.sampled_at)


def test_a_worker_lost_between_visits_keeps_the_first_visits_samples(tmp_path):
    # the exit cell kills the worker during its first visit: the cells visited before it
    # in that block lose their kept programs, keep their first samples, and the run goes on
    text = fault_config(["ok", "ok", "exit", "ok"])
    text = text.replace("repeats = 2", "repeats = 2\nvisits = 2")
    spec, store, run_id, _ = run_spec(tmp_path, text)
    results = results_by_mode(store, run_id)
    assert results["exit"].status == "failed"
    oks = [s.result for s in store.cells(run_id) if s.cell.knob_dict["mode"] == "ok"]
    assert {r.status for r in oks} == {"ok"}
    visits = [r.visits for res in oks for r in res.timing.rounds]
    assert 1 in visits and 2 in visits  # some rounds lost their second visit, some kept it


def test_profiled_cells_take_their_extras_last_each_in_a_worker_of_its_own(tmp_path):
    tables = "".join(
        f'\n[[matrix]]\nblock = "fault"\ninput_shape = [4]\nmode = "ok"\nbatch_size = {batch}\n'
        f'pass = "forward"\nprofile = {str(batch % 2 == 1).lower()}\n'
        for batch in (1, 2, 3, 4, 5)
    )
    _, store, run_id, _ = run_spec(tmp_path, RUN.format(timeout=60) + "rounds = 1\n" + tables)
    log = (tmp_path / run_id / "worker.log").read_text().splitlines()
    batch = {s.cell.cell_id: s.cell.batch_size for s in store.cells(run_id)}
    first = next(i for i, line in enumerate(log) if line.startswith("--- extras"))
    extras, workers = [], 0
    for line in log[first - 1 :]:
        if line.startswith("--- worker"):
            workers += 1
        elif line.startswith("--- extras"):
            extras.append((batch[line.split()[2]], workers))
    assert [b for b, _ in extras] == [2, 4, 1, 3, 5]  # the profiled (odd) cells last
    assert [w for _, w in extras] == [1, 1, 2, 3, 4]  # the plain ones share a worker
