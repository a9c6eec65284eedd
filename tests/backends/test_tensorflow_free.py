"""Blocks, the results layer, reports, the runner, the CLI and the JAX measurement path
import without TensorFlow: checked in a fresh interpreter where importing TensorFlow
raises."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = """
import importlib.abc, os, sys
class NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError(f"blocked: {name}")
sys.meta_path.insert(0, NoTensorFlow())
os.environ["KERAS_BACKEND"] = "jax"
import blocks, bench.results.store, bench.results.export, reports.report
import bench.orchestrate.runner, blockbench.cli
import bench.measure.backends.jax_backend, bench.worker.execute
from bench.measure.backends import load
load("jax")
print(sorted(m for m in sys.modules if m.split(".")[0] == "tensorflow"))
"""


def test_the_jax_path_never_imports_tensorflow():
    done = subprocess.run([sys.executable, "-c", PROGRAM], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_the_blocker_would_catch_an_import():
    program = PROGRAM.replace('load("jax")', "import tensorflow")
    done = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode != 0 and "blocked: tensorflow" in done.stderr
