"""Job arrays with no glue code: the Slurm script and the Kubernetes manifest of
docs/scale-out.md, run here as their schedulers would run them (3 shards, the scheduler's
variables set, the stub worker measuring), then merged: the merged run holds exactly the
cells a single machine runs. Plus the errors: a --shard that disagrees with the
scheduler, stores from different configs, a missing shard."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bench.orchestrate.runner import Runner
from bench.results.store import Store, store_path
from bench.spec.config import load
from blockbench.cli import main

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "scale-out.md").read_text()

CONFIG = """
[run]
rounds = 2
repeats = 2
warmup = 0
min_sample_s = 0.01
fit_step = false
memory = false

[[matrix]]
block = "dense"
input_shape = [8]
units = [4, 8, 16, 32]
batch_size = 2
pass = ["forward", "train"]

[[matrix]]
block = "dense"
pass = "fit"
units = [2, 4]
dataset = "digits"
epochs = 1
batch_size = 64
"""


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC, flags=re.S)


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text(CONFIG)
    return path


def base_env(out: Path, config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLURM_", "JOB_COMPLETION", "BLOCKBENCH_"))}  # fmt: skip
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        BLOCKBENCH_WORKER_MODULE="tests.stub_worker",
        BLOCKBENCH_OUT=str(out),
        BLOCKBENCH_CONFIG=str(config),
    )
    return env


def run(command, env, *, shell=False, check=True) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, shell=shell,
                          executable="/bin/bash" if shell else None)  # fmt: skip
    if check:
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done


def single_machine_cells(tmp_path, config) -> set[str]:
    """The cell ids one machine runs for the same config (stub worker, in-process)."""
    spec = load(config)
    out = tmp_path / "single"
    with Store(store_path(out)) as store:
        runner = Runner(store, out, worker_module="tests.stub_worker")
        run_id = runner.prepare(spec)
        runner.run(spec, run_id)
        return {c.cell.cell_id for c in store.cells(run_id)}


def merged_cells(out: Path, run_id: str) -> tuple[set[str], bool]:
    with Store(store_path(out), create=False) as store:
        info = store.run(run_id)
        return {c.cell.cell_id for c in store.cells(run_id)}, info.finished_at is not None


def test_the_slurm_array_script_runs_three_shards_that_merge_into_the_whole_run(tmp_path, config):
    script, _, merge = code_blocks("bash")[:3]
    assert "#SBATCH --exclusive" in script and "--shard" not in script
    out = tmp_path / "out"
    env = base_env(out, config)
    for task in (1, 2, 3):  # what `sbatch --array=1-3` gives each task
        shard_env = {**env, "SLURM_ARRAY_JOB_ID": "4242", "SLURM_ARRAY_TASK_ID": str(task),
                     "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "3"}  # fmt: skip
        run(["bash", "-c", script], shard_env)
        assert (out / "slurm-4242" / "shards" / f"shard-{task}-of-3.sqlite").exists()
    assert not store_path(out).exists()  # shards never share a store file
    merged = run(merge, {**env, "ARRAY_JOB_ID": "4242"}, shell=True)
    assert "shards 1, 2, 3 of 3 (all present)" in merged.stdout
    cells, finished = merged_cells(out, "slurm-4242")
    assert cells == single_machine_cells(tmp_path, config) and finished
    readings = 0
    for shard in sorted((out / "slurm-4242" / "shards").glob("*.sqlite")):
        with Store(shard, create=False) as store:
            readings += len(store.canaries("slurm-4242"))
    with Store(store_path(out), create=False) as store:  # every machine's canaries are kept
        assert readings > 3 and len(store.canaries("slurm-4242")) == readings
    assert (out / "slurm-4242" / "report.md").exists()
    runs = run([sys.executable, "-m", "blockbench", "--out", str(out), "runs"], env)
    assert "3/3 here (1: " in runs.stdout


def test_the_kubernetes_indexed_job_runs_three_shards_that_merge_into_the_whole_run(
    tmp_path, config
):
    manifest = yaml.safe_load(code_blocks("yaml")[0])
    job = manifest["spec"]
    assert job["completionMode"] == "Indexed"
    container = job["template"]["spec"]["containers"][0]
    out = tmp_path / "out"
    env = base_env(out, config)
    declared = {}
    for item in container["env"]:
        if "value" in item:
            declared[item["name"]] = item["value"]
        else:  # the downward API's job-name label is the Job's name
            assert "job-name" in item["valueFrom"]["fieldRef"]["fieldPath"]
            declared[item["name"]] = manifest["metadata"]["name"]
    assert int(declared["BLOCKBENCH_SHARD_COUNT"]) == job["completions"] == 3
    declared.update(BLOCKBENCH_OUT=str(out), BLOCKBENCH_CONFIG=str(config))  # here, not /results
    pod_env = {**env, **declared}
    for index in range(job["completions"]):
        args = [re.sub(r"\$\((\w+)\)", lambda m: pod_env[m.group(1)], a) for a in container["args"]]
        run([*container["command"], *args], {**pod_env, "JOB_COMPLETION_INDEX": str(index)})
    merge = code_blocks("bash")[3].replace("/results", str(out))
    merged = run(merge, env, shell=True)
    assert "shards 1, 2, 3 of 3 (all present)" in merged.stdout
    cells, finished = merged_cells(out, "blockbench-nightly")
    assert cells == single_machine_cells(tmp_path, config) and finished


def cli(argv, env, capsys, monkeypatch) -> tuple[int, str, str]:
    """The command line in this process (no interpreter start-up), with ``env``."""
    for key in [k for k in os.environ if k.startswith(("SLURM_", "JOB_COMPLETION", "BLOCKBENCH_"))]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith(("SLURM_", "JOB_COMPLETION", "BLOCKBENCH_")):
            monkeypatch.setenv(key, value)
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_merge_names_the_missing_shard_and_keeps_the_run_open(
    tmp_path, config, capsys, monkeypatch
):
    out = tmp_path / "out"
    env = base_env(out, config)
    for index in (1, 3):
        code, _, err = cli(["run", str(config), "--shard", f"{index}/3", "--run-id", "partial",
                            "--quiet"], env, capsys, monkeypatch)  # fmt: skip
        assert code == 0, err
    code, merged, _ = cli(["merge", str(out / "partial" / "shards")], env, capsys, monkeypatch)
    assert code == 0 and "shards 1, 3 of 3 (missing: 2)" in merged
    cells, finished = merged_cells(out, "partial")
    assert 0 < len(cells) < len(single_machine_cells(tmp_path, config)) and not finished


def test_shard_errors_are_clear_and_early(tmp_path, config, capsys, monkeypatch):
    env = base_env(tmp_path / "out", config)
    slurm = {**env, "SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "3",
             "SLURM_ARRAY_JOB_ID": "7"}  # fmt: skip
    code, _, err = cli(["run", str(config), "--shard", "1/3"], slurm, capsys, monkeypatch)
    assert code == 2
    assert "--shard 1/3 disagrees with the slurm job array, which makes this shard 2/3" in err
    code, _, err = cli(["run", str(config), "--shard", "1/3"], env, capsys, monkeypatch)
    assert code == 2 and "need one run id" in err
    assert not (tmp_path / "out").exists()  # nothing ran, nothing was written


def test_merging_stores_of_different_configs_merges_nothing(tmp_path, config, capsys, monkeypatch):
    out = tmp_path / "out"
    env = base_env(out, config)
    other = tmp_path / "other.toml"
    other.write_text(CONFIG.replace("units = [4, 8, 16, 32]", "units = [4, 8]"))
    for index, path in ((1, config), (2, other)):
        code, _, err = cli(["run", str(path), "--shard", f"{index}/2", "--run-id", "mixed",
                            "--quiet"], env, capsys, monkeypatch)  # fmt: skip
        assert code == 0, err
    code, _, err = cli(["merge", str(out / "mixed" / "shards")], env, capsys, monkeypatch)
    assert code == 2
    assert "nothing merged" in err and "made from a different config" in err
    with Store(store_path(out)) as store:
        assert store.runs() == []


def test_the_ray_executor_without_ray_installed_says_how_to_get_it(
    tmp_path, config, capsys, monkeypatch
):
    if importlib.util.find_spec("ray") is not None:
        pytest.skip("Ray is installed here (tests/ray covers the executor)")
    env = base_env(tmp_path / "out", config)
    code, _, err = cli(["run", str(config), "--executor", "ray"], env, capsys, monkeypatch)
    assert code == 2
    assert "--executor ray needs Ray, which is not installed: pip install -e '.[ray]'" in err
    assert not (tmp_path / "out").exists()
