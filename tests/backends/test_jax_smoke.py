"""The jax-smoke preset end to end through the command line, as a user of a jax-only
install runs it: cells run in JAX workers, the op-by-op and GPU cells are skipped with
their reasons, the report names the backend, and the profile is listed for TensorBoard."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_jax_smoke_runs_end_to_end(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    command = [sys.executable, "-m", "blockbench", "--out", str(tmp_path), "run", "jax-smoke",
               "--rounds", "2"]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    run_id = next(line.split()[-1] for line in lines if line.startswith("run id"))
    export = subprocess.run([sys.executable, "-m", "blockbench", "--out", str(tmp_path), "export",
                             run_id, "--format", "json"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    rows = json.loads(export.stdout)
    rows = rows.get("cells", rows) if isinstance(rows, dict) else rows
    statuses = {(r["label"], r["status"]) for r in rows}
    assert ("dense units=128 b32 train cpu jax jit", "ok") in statuses
    assert ("conv filters=8 b16 train cpu jax op-by-op", "skipped") in statuses
    assert ("dense units=32 b32 train gpu jax jit", "skipped") in statuses
    assert all(r["backend"] == "jax" for r in rows)
    ok = [r for r in rows if r["status"] == "ok"]
    assert all(r["step_s_median"] > 0 and r["rounds"] == 2 for r in ok)
    report = (tmp_path / run_id / "report.md").read_text()
    assert "### dense (jax)" in report and "Backend **jax**" in report
    assert "op-by-op JAX is not timed" in report
    folder = tmp_path / run_id / "tensorboard" / "plugins" / "profile"
    profiles = list(folder.glob("*/*.xplane.pb"))
    assert len(profiles) == 1
