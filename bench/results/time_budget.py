"""Where a run's wall time went, derived from its stored records alone.

The runner works in phases (`bench.orchestrate.runner`): a fresh worker and the canary,
then each round (every cell's first visit builds, traces and compiles its program; the
later visits only sample), then the extras of every timing cell in workers of their own
(allocator peak, XLA check, profiles), then the fit cells. Every round keeps its cells'
start times, build and first-call seconds, warm-up and timed samples, and every
finished cell its finish time, so the wall clock splits into those parts with nothing
stored twice:

- a round's **span** runs from its first cell's start to the end of its last sample;
  inside it, *setup* (build + first call: trace, compile, one step), *warm-up* (the
  discarded samples of the first visit), *timed samples*, and the rest: calibrating K
  in the first round, re-warming on the second visit, dispatch between cells;
- the **start** is before the first round (the first worker's TensorFlow import, the
  probe, the canary); the gaps **between rounds** are each fresh worker and canary;
- the **extras** run from the last round's end to the last timing cell's finish, the
  **fit study** from there to the last fit cell's finish.

A resumed run's wall includes the time between its invocations, and a run measured on
several hosts at once (shards, Ray) has parts that overlap: ``hosts`` says so. Rounds
stored before their start times were recorded (``started_at`` 0) cannot be placed on the
run's clock: ``placed`` is false and nothing is split.

>>> from bench.results.records import RoundResult
>>> rounds = [RoundResult(1, 7, 0, 100.0, build_s=0.5, compile_s=1.5, steps_per_sample=10,
...                       samples_s=(0.01, 0.01), warmup_s=(0.01,), sampled_at=(103.0, 110.0))]
>>> budget = TimeBudget.from_rounds(rounds, created_at=90.0, finished_at=130.0,
...                                 timing_finished_at=120.0, fit_finished_at=None)
>>> part = budget.rounds[0]
>>> round(part.span_s, 3), part.setup_s, part.samples_s, round(part.other_s, 3)
(10.1, 2.0, 0.2, 7.8)
>>> budget.start_s, round(budget.extras_s, 3), budget.fit_s, budget.wall_s
(10.0, 9.9, 0.0, 40.0)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from bench.results.records import RoundResult
from bench.results.store import RunInfo, StoredCell

CLOCK_SLACK_S = 60.0  # how far another host's clock may lag the run's creation


@dataclass(frozen=True)
class RoundBudget:
    """One round's wall span and what its cells' records account for inside it."""

    round: int
    cells: int
    visits: int  # visits per cell (the most common count among its cells)
    started_at: float
    ended_at: float
    setup_s: float  # build + first call (trace, compile, one step), over its cells
    warmup_s: float  # discarded samples of the first visit
    samples_s: float  # timed samples

    @property
    def span_s(self) -> float:
        return self.ended_at - self.started_at

    @property
    def other_s(self) -> float:
        """Calibration (first round), the second visit's re-warm, dispatch between cells."""
        return max(0.0, self.span_s - self.setup_s - self.warmup_s - self.samples_s)

    @property
    def per_visit_s(self) -> float:
        """Timed samples per visit: what one more sweep over the round's cells adds, at
        least."""
        return self.samples_s / self.visits if self.visits else 0.0


@dataclass(frozen=True)
class TimeBudget:
    """A run's wall clock split into its phases (seconds); see the module doc."""

    created_at: float
    finished_at: float | None
    rounds: tuple[RoundBudget, ...]
    timing_finished_at: float | None  # the last timing cell's finish (its extras done)
    fit_finished_at: float | None  # the last fit cell's finish
    fit_cells: int = 0
    hosts: int = 1

    @classmethod
    def from_rounds(
        cls,
        rounds: Iterable[RoundResult],
        *,
        created_at: float,
        finished_at: float | None,
        timing_finished_at: float | None,
        fit_finished_at: float | None,
        fit_cells: int = 0,
    ) -> TimeBudget:
        by_round: dict[int, list[RoundResult]] = {}
        hosts: set[str] = set()
        for result in rounds:
            if result.ok:
                by_round.setdefault(result.round, []).append(result)
                hosts.add(result.host)
        budgets = tuple(_round_budget(n, by_round[n]) for n in sorted(by_round))
        return cls(created_at, finished_at, budgets, timing_finished_at, fit_finished_at,
                   fit_cells, max(1, len(hosts)))  # fmt: skip

    @property
    def placed(self) -> bool:
        """Whether every round starts on the run's clock (after the run was created, less
        a minute for clocks of other hosts)."""
        return all(r.started_at >= self.created_at - CLOCK_SLACK_S for r in self.rounds)

    @property
    def ended_at(self) -> float:
        """The run's finish, or for an unfinished run the last moment its records know."""
        known = (self.finished_at, self.fit_finished_at, self.timing_finished_at)
        return next((t for t in known if t is not None), self.rounds_end)

    @property
    def wall_s(self) -> float:
        """From the run's creation to :attr:`ended_at`."""
        return self.ended_at - self.created_at

    @property
    def accounted_s(self) -> float:
        """The parts' sum: start, round spans, gaps between rounds, extras, fit study."""
        spans = sum(r.span_s for r in self.rounds)
        return self.start_s + spans + self.between_rounds_s + self.extras_s + self.fit_s

    @property
    def start_s(self) -> float:
        """Before the first round: the first worker's start, the probe, the canary."""
        return max(0.0, self.rounds[0].started_at - self.created_at) if self.rounds else 0.0

    @property
    def between_rounds_s(self) -> float:
        """Between one round's last sample and the next round's first cell: the fresh
        worker (TensorFlow's import) and the canary."""
        return sum(max(0.0, b.started_at - a.ended_at) for a, b in pairwise(self.rounds))

    @property
    def rounds_end(self) -> float:
        return max((r.ended_at for r in self.rounds), default=self.created_at)

    @property
    def extras_s(self) -> float:
        """From the last round's end to the last timing cell's finish (with the end
        canary and the first extras worker's start)."""
        if self.timing_finished_at is None:
            return 0.0
        return max(0.0, self.timing_finished_at - self.rounds_end)

    @property
    def fit_s(self) -> float:
        if self.fit_finished_at is None:
            return 0.0
        begin = max(self.rounds_end, self.timing_finished_at or self.created_at)
        return max(0.0, self.fit_finished_at - begin)

    @property
    def samples_s(self) -> float:
        return sum(r.samples_s for r in self.rounds)

    @property
    def setup_s(self) -> float:
        return sum(r.setup_s for r in self.rounds)


def time_budget(run: RunInfo, stored: Sequence[StoredCell]) -> TimeBudget:
    """The budget of one run from its stored cells (the reference workload included:
    it is sampled inside the rounds)."""
    rounds: list[RoundResult] = []
    timing_done: list[float] = []
    fit_done: list[float] = []
    for item in stored:
        result = item.result
        if result.status != "ok":
            continue
        if result.timing is not None:
            rounds.extend(result.timing.rounds)
            timing_done.append(item.finished_at)
        elif result.fit is not None:
            fit_done.append(item.finished_at)
    return TimeBudget.from_rounds(
        rounds,
        created_at=run.created_at,
        finished_at=run.finished_at,
        timing_finished_at=max(timing_done, default=None),
        fit_finished_at=max(fit_done, default=None),
        fit_cells=len(fit_done),
    )


def _round_budget(number: int, results: Sequence[RoundResult]) -> RoundBudget:
    return RoundBudget(
        round=number,
        cells=len(results),
        # the reference workload's rounds join its visits of every block: the cells' own
        # count is the most common one
        visits=Counter(r.visits for r in results).most_common(1)[0][0],
        started_at=min(r.started_at for r in results),
        ended_at=max(r.ended_at for r in results),
        setup_s=sum(r.build_s + r.compile_s for r in results),
        warmup_s=sum(sum(r.warmup_s) * r.steps_per_sample for r in results),
        samples_s=sum(sum(r.samples_s) * r.steps_per_sample for r in results),
    )
