"""The environment a run measured: hardware, versions, commit, probes and settings.

Reads the run's environment fingerprint (``RunInfo.env``; any key may be missing) and its
peak-FLOP probes. Keys this module does not know are listed at the end, so nothing the
runner recorded is hidden.

>>> print(environment_section({"cpu_model": "EPYC", "cores": 2, "git_commit": "abc",
...                            "git_dirty": False}, {}))
| setting     | value         |
|-------------|---------------|
| CPU         | EPYC, 2 cores |
| GPU         | —             |
| commit      | abc           |
| peak FLOP/s | —             |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reports.markdown import table
from reports.units import MISSING, format_flops_rate, is_missing

_KNOWN = {
    "cpu_model", "cores", "intra_op_threads", "inter_op_threads", "os", "python", "tensorflow",
    "keras", "numpy", "gpus", "gpu_driver", "git_commit", "git_dirty", "tf32",
    "cpu_allocator_bfc", "cpu_allocator", "hostname", "blockbench", "keras_backends", "jax",
    "jaxlib", "torch",
}  # fmt: skip

# Keys that say where or when, not what: never a reason to distrust a comparison.
IGNORED_ENV_KEYS = frozenset(
    {"hostname", "timestamp", "created_at", "started_at", "finished_at", "date", "time"}
)
# The code under test: expected to differ between the runs a comparison compares.
COMMIT_KEYS = frozenset({"git_commit", "git_dirty"})

_VERSIONS = (
    ("python", "Python"),
    ("tensorflow", "TensorFlow"),
    ("keras", "Keras"),
    ("jax", "JAX"),
    ("jaxlib", "jaxlib"),
    ("torch", "PyTorch"),
    ("numpy", "NumPy"),
    ("blockbench", "blockbench"),
)


def _text(value: Any) -> str:
    if is_missing(value) or value == "":
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value) or MISSING
    return str(value)


def _switch(value: Any, on: str, off: str) -> str:
    if value is None:
        return MISSING
    return on if value else off


def environment_rows(env: dict[str, Any], probes: dict[str, dict[str, Any]]) -> list[list[str]]:
    """``[setting, value]`` rows, leaving out rows whose every part is unknown.

    >>> environment_rows({"tf32": False}, {"cpu": {"peak_flops": 1.1e11}})
    [['CPU', '—'], ['GPU', '—'], ['TF32', 'off'], ['peak FLOP/s', 'cpu: 110 GFLOP/s']]
    """
    cpu = _text(env.get("cpu_model"))
    if not is_missing(env.get("cores")):
        cpu = f"{cpu}, {env['cores']} cores"
    threads = [
        f"{name} {env[key]}"
        for key, name in (("intra_op_threads", "intra-op"), ("inter_op_threads", "inter-op"))
        if not is_missing(env.get(key))
    ]
    gpus = "none" if env.get("gpus") == [] else _text(env.get("gpus"))
    if not is_missing(env.get("gpu_driver")) and env.get("gpu_driver") != "":
        gpus = f"{gpus} (driver {env['gpu_driver']})"
    versions = [f"{label} {env[key]}" for key, label in _VERSIONS if not is_missing(env.get(key))]
    commit = commit_text(env)
    rows = [
        ["CPU", cpu],
        ["threads", ", ".join(threads)],
        ["GPU", gpus],
        ["OS", _text(env.get("os"))],
        ["versions", ", ".join(versions)],
        ["commit", commit],
        ["host", _text(env.get("hostname"))],
        ["TF32", _switch(env.get("tf32"), "on", "off")],
        ["Keras backends", ", ".join(env.get("keras_backends") or [])],
        ["CPU allocator", _allocator(env)],
    ]
    rows = [row for row in rows if row[0] in ("CPU", "GPU") or row[1] not in ("", MISSING)]
    rows += [[key, _text(env[key])] for key in sorted(env) if key not in _KNOWN]
    peaks = [
        f"{device}: {format_flops_rate(probe.get('peak_flops'))}"
        for device, probe in sorted(probes.items())
    ]
    rows.append(["peak FLOP/s", "; ".join(peaks) or MISSING])
    return rows


def _allocator(env: dict[str, Any]) -> str:
    """TensorFlow's CPU allocator: recorded as text since rounds and extras differ; older
    runs recorded a flag."""
    if "tensorflow" not in (env.get("keras_backends") or ["tensorflow"]):
        return ""
    if env.get("cpu_allocator"):
        return str(env["cpu_allocator"])
    return _switch(env.get("cpu_allocator_bfc"), "BFC (TF_CPU_ALLOCATOR_USE_BFC=true)", "default")


def environment_section(env: dict[str, Any], probes: dict[str, dict[str, Any]]) -> str:
    """The environment as a two-column markdown table."""
    return table(["setting", "value"], environment_rows(env, probes), left=2)


@dataclass(frozen=True)
class EnvDifference:
    """One fingerprint key whose value differs between two runs (``None``: missing)."""

    key: str
    a: Any
    b: Any

    def describe(self) -> str:
        """``key (A: value; B: value)``.

        >>> EnvDifference("tensorflow", "2.20.0", "2.21.0").describe()
        'tensorflow (A: 2.20.0; B: 2.21.0)'
        """
        return f"{self.key} (A: {_text(self.a)}; B: {_text(self.b)})"


def env_differences(
    env_a: dict[str, Any],
    env_b: dict[str, Any],
    *,
    ignore: frozenset[str] = IGNORED_ENV_KEYS | COMMIT_KEYS,
) -> list[EnvDifference]:
    """The fingerprint keys whose values differ, sorted; ``ignore`` keys are skipped.

    >>> env_differences({"cores": 2, "hostname": "a"}, {"cores": 4, "hostname": "b"})
    [EnvDifference(key='cores', a=2, b=4)]
    """
    keys = sorted((set(env_a) | set(env_b)) - ignore)
    return [
        EnvDifference(key, env_a.get(key), env_b.get(key))
        for key in keys
        if env_a.get(key) != env_b.get(key)
    ]


def commit_text(env: dict[str, Any]) -> str:
    """A run's commit, short, with ``(dirty)`` when the tree had changes.

    >>> commit_text({"git_commit": "0123456789abcdef", "git_dirty": True})
    '0123456789ab (dirty)'
    """
    commit = _text(env.get("git_commit"))
    if commit == MISSING:
        return commit
    return commit[:12] + (" (dirty)" if env.get("git_dirty") else "")
