"""Typed result records that a worker returns for one cell and the store keeps.

Every record round-trips through plain JSON (``to_dict`` / ``from_dict``) because it
crosses a process boundary (worker -> runner) and is stored as JSON in SQLite.

>>> r = CellResult(status="skipped", reason="no GPU visible")
>>> CellResult.from_dict(r.to_dict()) == r
True
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
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
class RoundResult:
    """One round of a timing cell: measured in one worker process, at one moment.

    ``samples_s`` are seconds per step of each measured sample (each sample runs
    ``steps_per_sample`` steps inside one traced call); ``warmup_s`` are discarded.
    ``position`` is the cell's place in the round's shuffled order; ``pid`` the worker,
    ``host`` the machine it ran on. With ``visits`` > 1 the round's samples were taken in
    that many visits, interleaved with the other cells of the round, so they span several
    moments. ``sampled_at`` holds each sample's start (wall clock, ``time.time()``), so
    samples of different cells can be matched by moment (`bench.results.moments`); rounds
    stored before it have none. A round that failed keeps its ``reason`` and no samples.
    """

    round: int
    pid: int | None
    position: int
    started_at: float
    build_s: float = 0.0
    compile_s: float = 0.0
    steps_per_sample: int = 0
    samples_s: tuple[float, ...] = ()
    warmup_s: tuple[float, ...] = ()
    reason: str = ""
    host: str = ""
    visits: int = 1  # times the cell was visited in its round; samples_s in visit order
    sampled_at: tuple[float, ...] = ()  # each sample's start, wall clock; () if unknown

    @property
    def ok(self) -> bool:
        return not self.reason and bool(self.samples_s)

    @property
    def timed(self) -> bool:
        """Whether every sample has its start time (rounds stored before it have none)."""
        return len(self.sampled_at) == len(self.samples_s) > 0

    @property
    def work_s(self) -> float:
        """Seconds the records account for: build, first call, warm-up and samples.

        >>> RoundResult(1, 1, 0, 0.0, build_s=1.0, compile_s=2.0, steps_per_sample=10,
        ...             samples_s=(0.1, 0.2), warmup_s=(0.1,)).work_s
        7.0
        """
        steps = self.steps_per_sample
        return self.build_s + self.compile_s + (sum(self.warmup_s) + sum(self.samples_s)) * steps

    @property
    def ended_at(self) -> float:
        """When its last sample ended (wall clock); without start times, ``started_at``
        plus the seconds its records account for.

        >>> RoundResult(1, 1, 0, 5.0, steps_per_sample=2, samples_s=(0.5, 0.25),
        ...             sampled_at=(9.0, 7.0)).ended_at
        10.0
        """
        if not self.timed:
            return self.started_at + self.work_s
        steps = self.steps_per_sample
        return max(at + s * steps for at, s in zip(self.sampled_at, self.samples_s, strict=True))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RoundResult:
        tuples = ("samples_s", "warmup_s", "sampled_at")
        return cls(**{k: tuple(v) if k in tuples else v for k, v in data.items()})


@dataclass(frozen=True)
class CellCosts:
    """What a timing cell costs by the closed forms: params and FLOPs of the model."""

    params: int
    params_trainable: int
    flops: int
    flops_per_step: int


@dataclass(frozen=True)
class CellExtras:
    """What a timing cell measures once, outside the timed rounds: the allocator peak
    (in a worker with the BFC allocator), the Keras ``fit()``/``predict()`` step, the XLA
    output check and the profile."""

    fit_step_s: float | None = None
    xla_max_abs_diff: float | None = None
    xla_fallback: str = ""
    tf32: bool | None = None
    memory: MemoryResult | None = None
    profile: ProfileResult | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CellExtras:
        data = dict(data)
        memory = data.pop("memory", None)
        profile = data.pop("profile", None)
        if profile:
            profile = dict(profile)
            profile["top_alloc_ops"] = tuple(profile.get("top_alloc_ops", ()))
            profile["top_ops"] = tuple(profile.get("top_ops", ()))
        return cls(
            **data,
            memory=MemoryResult(**memory) if memory else None,
            profile=ProfileResult(**profile) if profile else None,
        )


@dataclass(frozen=True)
class Reply:
    """What a worker answers for one piece of a timing cell (a round, or the extras).

    ``status`` is ``ok``, ``failed`` or ``skipped``; ``round`` (for a round) or
    ``extras`` (for the extras) hold the measurement; ``costs`` the closed-form costs.

    >>> reply = Reply("ok", round=RoundResult(1, 42, 0, 0.0, samples_s=(0.5,)))
    >>> Reply.from_dict(asdict(reply)) == reply
    True
    """

    status: str
    reason: str = ""
    traceback: str = ""
    round: RoundResult | None = None
    costs: CellCosts | None = None
    extras: CellExtras | None = None
    warnings: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reply:
        return cls(
            status=data["status"],
            reason=data.get("reason", ""),
            traceback=data.get("traceback", ""),
            round=RoundResult.from_dict(data["round"]) if data.get("round") else None,
            costs=CellCosts(**data["costs"]) if data.get("costs") else None,
            extras=CellExtras.from_dict(data["extras"]) if data.get("extras") else None,
            warnings=tuple(data.get("warnings", ())),
        )


def joined(earlier: Reply, later: Reply) -> Reply:
    """One round of a cell sampled in two visit blocks (the reference workload is
    sampled in every block): ``later``'s reply with ``earlier``'s samples, warm-ups,
    start times and visits before its own, and the first block's compile.

    >>> first = Reply("ok", round=RoundResult(1, 7, 3, 0.0, compile_s=0.5, samples_s=(1.0,),
    ...                                       sampled_at=(10.0,)))
    >>> second = Reply("ok", round=RoundResult(1, 7, 40, 9.0, compile_s=0.1, samples_s=(2.0,),
    ...                                        sampled_at=(50.0,)))
    >>> both = joined(first, second).round
    >>> both.samples_s, both.sampled_at, both.visits, both.compile_s, both.position
    ((1.0, 2.0), (10.0, 50.0), 2, 0.5, 3)
    """
    a, b = earlier.round, later.round
    if a is None or b is None or not a.ok:
        return later
    timed = a.timed and b.timed
    round_ = replace(
        a,
        samples_s=a.samples_s + b.samples_s,
        warmup_s=a.warmup_s + b.warmup_s,
        visits=a.visits + b.visits,
        sampled_at=a.sampled_at + b.sampled_at if timed else (),
    )
    return replace(later, round=round_)


@dataclass(frozen=True)
class TimingResult:
    """A forward or train timing cell: its costs, its rounds and its extras.

    ``rounds`` keep every sample with its round and process (the raw data); the flat
    views below pool them. ``flops_per_step`` is forward FLOPs x batch, times 3 for a
    train step. ``adjusted_samples`` is derived, never stored: the samples at the run's
    typical machine speed, by round, set when a run is read (`bench.results.moments`).
    """

    params: int
    params_trainable: int
    flops: int
    flops_per_step: int
    rounds: tuple[RoundResult, ...] = ()
    fit_step_s: float | None = None
    xla_max_abs_diff: float | None = None
    xla_fallback: str = ""
    tf32: bool | None = None
    memory: MemoryResult | None = None
    profile: ProfileResult | None = None
    adjusted_samples: tuple[tuple[float, ...], ...] = field(default=(), compare=False)

    @property
    def ok_rounds(self) -> tuple[RoundResult, ...]:
        return tuple(r for r in self.rounds if r.ok)

    @property
    def stat_samples(self) -> tuple[tuple[float, ...], ...]:
        """What a cell's interval and spreads read: the samples at the run's typical
        machine speed where they were derived, else the raw samples, by round."""
        return self.adjusted_samples or self.round_samples

    @property
    def round_samples(self) -> tuple[tuple[float, ...], ...]:
        """Samples grouped by round (successful rounds only): what statistics read."""
        return tuple(r.samples_s for r in self.ok_rounds)

    @property
    def samples_s(self) -> tuple[float, ...]:
        """Every measured sample, pooled over rounds."""
        return tuple(s for r in self.ok_rounds for s in r.samples_s)

    @property
    def warmup_s(self) -> tuple[float, ...]:
        return tuple(s for r in self.ok_rounds for s in r.warmup_s)

    @property
    def compile_s(self) -> float:
        """The first round's first-call time: trace and compile from cold. Later rounds
        trace afresh but load XLA programs from the run's compilation cache."""
        return self.ok_rounds[0].compile_s if self.ok_rounds else 0.0

    @property
    def build_s(self) -> float:
        return _median([r.build_s for r in self.ok_rounds])

    @property
    def steps_per_sample(self) -> int:
        return self.ok_rounds[0].steps_per_sample if self.ok_rounds else 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("adjusted_samples")  # derived from the samples, so never stored
        return data

    @classmethod
    def assemble(
        cls, costs: CellCosts, rounds: Sequence[RoundResult], extras: CellExtras | None
    ) -> TimingResult:
        """Join a cell's costs, its rounds (in round order) and its extras.

        >>> costs = CellCosts(params=10, params_trainable=10, flops=20, flops_per_step=40)
        >>> rounds = [RoundResult(2, 11, 0, 0.0, samples_s=(2.0,)),
        ...           RoundResult(1, 10, 3, 0.0, samples_s=(1.0, 3.0))]
        >>> timing = TimingResult.assemble(costs, rounds, None)
        >>> timing.round_samples, timing.samples_s, timing.params
        (((1.0, 3.0), (2.0,)), (1.0, 3.0, 2.0), 10)
        """
        extras = extras or CellExtras()
        return cls(
            **asdict(costs),
            rounds=tuple(sorted(rounds, key=lambda r: r.round)),
            **{f.name: getattr(extras, f.name) for f in fields(CellExtras)},
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TimingResult:
        data = dict(data)
        data.pop("adjusted_samples", None)
        if "samples_s" in data:  # a store written before rounds: one round, no process
            legacy = {k: data.pop(k) for k in ("build_s", "compile_s", "steps_per_sample",
                                               "samples_s", "warmup_s") if k in data}  # fmt: skip
            data["rounds"] = [{"round": 1, "pid": None, "position": 0, "started_at": 0.0, **legacy}]
        rounds = tuple(RoundResult.from_dict(r) for r in data.pop("rounds", ()))
        extras = CellExtras.from_dict(
            {k: data.pop(k) for k in [f.name for f in fields(CellExtras)] if k in data}
        )
        return cls(**data, rounds=rounds, **{f.name: getattr(extras, f.name)
                                             for f in fields(CellExtras)})  # fmt: skip


def _median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


@dataclass(frozen=True)
class FitResult:
    """One seed of one fit cell: curves at evaluation epochs and what they say.

    ``curves`` maps ``"epoch"`` to the evaluated (1-based) epochs, log-spaced plus the
    best-validation, interpolation and last epochs, and every other key to one value per
    evaluated epoch (``None`` where not finite), all in inference mode:
    ``train_loss`` and ``train_error_noisy`` on the labels trained on (corrupted when the
    cell corrupts labels), ``train_error_clean`` on the clean training labels,
    ``val_loss``, ``val_error``, ``test_loss``, ``test_error``.

    Test error twice: ``final_test_error`` at the last epoch, ``best_test_error`` at the
    best-validation epoch ``best_epoch`` (early stopping). ``test_metric`` is the
    early-stopped test accuracy, ``final_val_metric``/``best_val_metric`` validation
    accuracies. ``until`` is the stopping rule, ``stopped`` what ended training
    (``epochs``, ``interpolation``, ``max_epochs`` or ``diverged``) after ``epochs_run``
    epochs; ``interpolation_epoch`` is the first epoch whose noisy-label train error was
    <= ``epsilon``. Gaps are validation loss minus train loss. ``None`` means never.
    """

    params: int
    metric: str
    epochs_run: int
    curves: dict[str, list[float | None]]
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
    until: str = "epochs"
    epsilon: float | None = None
    stopped: str = ""
    interpolation_epoch: int | None = None
    final_test_error: float | None = None
    best_test_error: float | None = None
    final_train_error: float | None = None
    final_train_error_clean: float | None = None
    final_val_error: float | None = None


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
        data = asdict(self)
        if self.timing is not None:
            data["timing"] = self.timing.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CellResult:
        timing = data.get("timing")
        fit = data.get("fit")
        return cls(
            status=data["status"],
            reason=data.get("reason", ""),
            traceback=data.get("traceback", ""),
            timing=TimingResult.from_dict(timing) if timing else None,
            fit=FitResult(**fit) if fit else None,
            warnings=tuple(data.get("warnings", ())),
            wall_s=float(data.get("wall_s", 0.0)),
        )


def assemble(costs: CellCosts | None, rounds: Sequence[Reply], extras: Reply | None) -> CellResult:
    """A timing cell's result from its round replies and its extras reply: the first
    round that was not ``ok`` decides (``failed`` or ``skipped``), else ``ok`` (a failed
    extras phase becomes a warning; the timing stands).

    >>> costs = CellCosts(10, 10, 20, 40)
    >>> good = Reply("ok", round=RoundResult(1, 7, 0, 0.0, samples_s=(1.0,)), costs=costs)
    >>> assemble(costs, [good], Reply("failed", reason="MemoryError: x")).warnings
    ('extras (memory, XLA check, profile, Keras step) failed: MemoryError: x',)
    >>> assemble(costs, [good, Reply("failed", reason="timeout")], None).status
    'failed'
    """
    warnings = [w for reply in (*rounds, *([extras] if extras else [])) for w in reply.warnings]
    failed = [r for r in rounds if r.status != "ok"]
    if failed:
        return CellResult(failed[0].status, reason=failed[0].reason,
                          traceback=failed[0].traceback,
                          warnings=tuple(dict.fromkeys(warnings)))  # fmt: skip
    if extras is not None and extras.status == "failed":
        warnings.append(f"extras (memory, XLA check, profile, Keras step) failed: {extras.reason}")
    timing = TimingResult.assemble(
        costs, [r.round for r in rounds], extras.extras if extras and extras.extras else None
    )
    return CellResult("ok", timing=timing, warnings=tuple(dict.fromkeys(warnings)))
