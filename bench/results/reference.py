"""The reference workload's speed at each round of a run, and cells measured against it.

The reference cells (`bench.spec.reference`) are sampled in every sweep of every visit
block, in the worker that measures the cells around them. For one round of a cell, the
reference's *level* is the mean over the reference cells of the log median of their
samples taken in that round, on the same host, while the cell was being sampled (within
`WINDOW_S` of the cell's first and last sample); when none fall there, as in a run with
one visit per round, those of the round taken in the same worker process. A cell with
neither (a shard or a Ray task measured apart from the reference) has no level, and
``compare`` keeps its verdict on the raw samples. A cell's round samples divided by
``exp(level)`` are its step time in units of the reference's, measured at the same
moments: what the machine's speed does to both cancels, what a change of the cell does
stays.

Samples are taken as the moment model leaves them (``stat_samples``: adjusted for the
machine's wander within the run when start times exist), for the cells and the
reference alike; the per-round ratio keeps each round's own noise, and the reference's,
in the round-to-round spread that the round-level test sees.

>>> from bench.results.records import RoundResult
>>> def rounds(values, t0):  # two rounds, one sample a second
...     return tuple(RoundResult(r + 1, 1, 0, 0.0, samples_s=tuple(v),
...                              sampled_at=tuple(t0 + 100 * r + i for i in range(len(v))))
...                  for r, v in enumerate(values))
>>> clock = ReferenceClock.of({"ref": rounds([[2.0, 2.0], [4.0, 4.0]], 0.0)})
>>> cell = rounds([[1.0, 1.0], [2.0, 2.0]], 0.5)  # twice as slow in round 2, like the reference
>>> clock.relative(cell, [r.samples_s for r in cell])
((0.5, 0.5), (0.5, 0.5))
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bench.results.records import RoundResult

WINDOW_S = 2.0  # reference samples this far outside a cell's round still count


@dataclass(frozen=True)
class _Series:
    """One reference cell's samples: round number, host, worker pid (-1 if unknown),
    start time and value of each."""

    rounds: np.ndarray
    hosts: np.ndarray
    pids: np.ndarray
    times: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class ReferenceClock:
    """The reference cells of one run at one place (backend and device)."""

    series: tuple[_Series, ...]

    @classmethod
    def of(
        cls,
        references: Mapping[Hashable, Sequence[RoundResult]],
        samples: Mapping[Hashable, Sequence[Sequence[float]]] | None = None,
    ) -> ReferenceClock:
        """From each reference cell's rounds, and optionally its samples grouped by ok
        round (the moment-adjusted ones); without them, the rounds' raw samples."""
        series = []
        for key, cell_rounds in references.items():
            ok = [r for r in cell_rounds if r.ok and r.timed]
            if not ok or len(ok) != len([r for r in cell_rounds if r.ok]):
                continue  # no start times: cannot be matched to a cell's samples
            groups = samples[key] if samples is not None else [r.samples_s for r in ok]
            series.append(_Series(
                np.concatenate([[r.round] * len(r.samples_s) for r in ok]),
                np.array([r.host for r in ok for _ in r.samples_s]),
                np.array([_pid(r) for r in ok for _ in r.samples_s]),
                np.concatenate([r.sampled_at for r in ok]),
                np.concatenate([np.asarray(g, dtype=float) for g in groups]),
            ))  # fmt: skip
        return cls(tuple(series))

    def __bool__(self) -> bool:
        return bool(self.series)

    def level(self, round_: RoundResult) -> float | None:
        """The reference's log level while ``round_`` (a cell's round) was sampled;
        ``None`` when some reference cell has no sample in that round."""
        if not round_.timed:
            return None
        start, end = min(round_.sampled_at) - WINDOW_S, max(round_.sampled_at) + WINDOW_S
        logs = []
        for series in self.series:
            same = (series.rounds == round_.round) & (series.hosts == round_.host)
            near = same & (series.times >= start) & (series.times <= end)
            process = same & (series.pids == _pid(round_))
            chosen = series.values[near] if near.any() else series.values[process]
            if chosen.size == 0:
                return None
            logs.append(float(np.log(np.median(chosen))))
        return float(np.mean(logs)) if logs else None

    def relative(
        self, rounds: Sequence[RoundResult], samples: Sequence[Sequence[float]]
    ) -> tuple[tuple[float, ...], ...] | None:
        """A cell's samples (grouped by its ok rounds) in units of the reference's step
        time in the same round; ``None`` unless every round has a reference level."""
        ok = [r for r in rounds if r.ok]
        if not self or len(ok) != len(samples):
            return None
        levels = [self.level(r) for r in ok]
        if any(level is None for level in levels):
            return None
        return tuple(
            tuple(float(v) / float(np.exp(level)) for v in group)
            for group, level in zip(samples, levels, strict=True)
        )


def _pid(round_: RoundResult) -> int:
    return -1 if round_.pid is None else int(round_.pid)
