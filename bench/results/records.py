"""Typed result records that a worker returns for one cell and the store keeps.

Every record round-trips through plain JSON (``to_dict`` / ``from_dict``) because it
crosses a process boundary (worker -> runner) and is stored as JSON in SQLite.

>>> r = CellResult(status="skipped", reason="no GPU visible")
>>> CellResult.from_dict(r.to_dict()) == r
True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

STATUSES = ("ok", "failed", "skipped")


@dataclass(frozen=True)
class MemoryResult:
    """Memory of the measured phase of one cell.

    ``peak_bytes`` is the allocator peak (``tf.config.experimental.get_memory_info``)
    after a stats reset; ``allocator`` names what was measured (e.g. ``"GPU:0 bfc"`` or
    ``"CPU:0 bfc (TF_CPU_ALLOCATOR_USE_BFC=true)"``). ``estimate`` is the breakdown of
    ``peak_bytes_estimate`` (weights, gradients, optimizer, activations, ...).
    """

    peak_bytes: int | None
    allocator: str
    rss_peak_bytes: int | None
    peak_bytes_estimate: int | None
    estimate: dict[str, int] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if not self.peak_bytes or not self.peak_bytes_estimate:
            return None
        return self.peak_bytes / self.peak_bytes_estimate


@dataclass(frozen=True)
class ProfileResult:
    """What a TensorBoard profile capture left and what was read back from it."""

    profile_path: str
    profile_peak_bytes: int | None = None
    top_alloc_ops: tuple[dict[str, Any], ...] = ()
    top_ops: tuple[dict[str, Any], ...] = ()
    capture_s: float | None = None


@dataclass(frozen=True)
class TimingResult:
    """A forward or train timing cell.

    ``samples_s`` are seconds per step of each measured sample (each sample runs
    ``steps_per_sample`` steps inside one traced call); ``warmup_s`` are discarded.
    ``flops_per_step`` is forward FLOPs x batch, times 3 for a train step.
    """

    params: int
    params_trainable: int
    flops: int
    flops_per_step: int
    build_s: float
    compile_s: float
    steps_per_sample: int
    samples_s: tuple[float, ...]
    warmup_s: tuple[float, ...] = ()
    fit_step_s: float | None = None
    xla_max_abs_diff: float | None = None
    xla_fallback: str = ""
    tf32: bool | None = None
    memory: MemoryResult | None = None
    profile: ProfileResult | None = None


@dataclass(frozen=True)
class FitResult:
    """One seed of one fit cell: curves per epoch and what they say.

    ``curves`` maps ``train_loss``, ``val_loss``, ``train_metric``, ``val_metric`` to one
    value per epoch run. ``metric`` names the metric (``accuracy`` for classification).
    Gaps are validation loss minus train loss. Epochs are 1-based; ``None`` means never.
    """

    params: int
    metric: str
    epochs_run: int
    curves: dict[str, list[float]]
    final_val_metric: float | None
    best_val_metric: float | None
    best_epoch: int | None
    test_metric: float | None
    gap_end: float | None
    gap_best: float | None
    onset_epoch: int | None
    memorisation: float | None
    fit_wall_s: float
    diverged_epoch: int | None = None
    train_size: int = 0


@dataclass(frozen=True)
class CellResult:
    """The outcome of one cell: ``ok`` with a timing or fit record, ``failed`` or
    ``skipped`` with a reason (and a traceback tail for failures)."""

    status: str
    reason: str = ""
    traceback: str = ""
    timing: TimingResult | None = None
    fit: FitResult | None = None
    warnings: tuple[str, ...] = ()
    wall_s: float = 0.0

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CellResult:
        timing = data.get("timing")
        fit = data.get("fit")
        return cls(
            status=data["status"],
            reason=data.get("reason", ""),
            traceback=data.get("traceback", ""),
            timing=_timing_from_dict(timing) if timing else None,
            fit=FitResult(**fit) if fit else None,
            warnings=tuple(data.get("warnings", ())),
            wall_s=float(data.get("wall_s", 0.0)),
        )


def _timing_from_dict(data: dict[str, Any]) -> TimingResult:
    data = dict(data)
    memory = data.pop("memory", None)
    profile = data.pop("profile", None)
    if profile:
        profile = dict(profile)
        profile["top_alloc_ops"] = tuple(profile.get("top_alloc_ops", ()))
        profile["top_ops"] = tuple(profile.get("top_ops", ()))
    return TimingResult(
        **{k: tuple(v) if k in ("samples_s", "warmup_s") else v for k, v in data.items()},
        memory=MemoryResult(**memory) if memory else None,
        profile=ProfileResult(**profile) if profile else None,
    )
