"""The environment fingerprint stored with every run (pytest-benchmark's machine_info
and commit_info, plus what matters for ML timing: TF/Keras versions, GPU, TF32, threads,
the CPU allocator, the Keras backends and their versions). Gathered without importing
any framework.

>>> fp = fingerprint(tf32=False)
>>> fp["cores"] > 0 and "python" in fp
True
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

CPU_BFC_VARIABLE = "TF_CPU_ALLOCATOR_USE_BFC"


def fingerprint(
    *, tf32: bool, cwd: str | Path | None = None, backends: tuple[str, ...] = ("tensorflow",)
) -> dict[str, Any]:
    """Machine, software and setting facts that can change a measurement; ``backends``
    are the Keras backends the run's cells use (each worker sets its own)."""
    gpus, driver = _gpus()
    commit, dirty = _git(cwd or Path(__file__).resolve().parent.parent)
    return {
        "hostname": socket.gethostname(),
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count() or 0,
        "intra_op_threads": os.environ.get("TF_NUM_INTRAOP_THREADS", "auto"),
        "inter_op_threads": os.environ.get("TF_NUM_INTEROP_THREADS", "auto"),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset"),
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "python_compiler": platform.python_compiler(),
        "tensorflow": _version("tensorflow", "tensorflow-cpu"),
        "keras": _version("keras"),
        "keras_backends": list(backends),
        "jax": _version("jax"),
        "jaxlib": _version("jaxlib"),
        "torch": _version("torch"),
        "numpy": _version("numpy"),
        "blockbench": _version("blockbench"),
        "gpus": gpus,
        "gpu_driver": driver,
        "git_commit": commit,
        "git_dirty": dirty,
        "tf32": tf32,
        "cpu_allocator": "timed rounds: TensorFlow's default; memory peaks (extras): BFC",
    }


def _version(*names: str) -> str | None:
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpus() -> tuple[list[str], str | None]:
    if shutil.which("nvidia-smi") is None:
        return [], None
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return [], None
    rows = [line.split(",") for line in out.strip().splitlines() if line.strip()]
    return [r[0].strip() for r in rows], (rows[0][1].strip() if rows else None)


def _git(cwd: str | Path) -> tuple[str | None, bool | None]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return None, None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd, capture_output=True, text=True, timeout=10,
        )  # fmt: skip
        return commit.stdout.strip(), bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None
