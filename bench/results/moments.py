"""The machine's speed at each moment of a run, estimated from the run's own samples.

Measured on this 2-vCPU VM (`benchmarks/machine_drift.py`, one process, four different
cells swept for 30 s, four times): the per-step time of every cell moves with the
moment, sd 0.10 to 0.16 of log step time from one quarter-second sweep to the next, and
all cells move together; with that shared part removed, a cell's own 50 ms samples
scatter by 0.04-0.08 (robust sd). In two quick runs (sample order rebuilt from their
seeds) taking the shared part out cut a sample's robust sd from 0.14 to 0.09, and the
median 95% interval of a cell from ±9.4% to ±4.8%.

So each sample's *moment effect* is estimated from the samples of **other** cells taken
nearest to it in time (`NEIGHBOURS` of them, no further than `WINDOW_S` away): the
median of their residuals ``log t - log median(their cell)``. The cell medians are then
re-estimated from the adjusted samples, and the effects once more (`ITERATIONS`). A
sample's adjusted value is ``t / exp(effect)``: what it would have read at the run's
typical speed. Nothing is stored: the raw samples and their start times
(`RoundResult.sampled_at`) stay the record, and this is derived from them each time.

What it removes and what it cannot:

- it removes the machine's moment-to-moment wander *within* a run, so a cell's interval
  and the comparisons between cells of one run (capacities, XLA on/off, the laws) get
  the precision of the cells' own noise;
- it keeps each cell's level (the effects have median ~0 over the run), and a cell whose
  own speed differs keeps that difference: its neighbours are other cells;
- it cannot remove the run's mean speed, which moved by 12% between two quick runs 20
  minutes apart here, every cell alike: `reports.compare` names that shift, and its
  verdicts on raw samples keep the machine's drift between rounds in their variance.

Cells without start times (stores from before them) get no adjustment.

>>> from bench.results.records import RoundResult
>>> speed = [1.0, 1.3, 1.0, 1.3]  # the machine's speed in each of four sweeps, 10 s apart
>>> def cell(base, c):  # 8 cells, visited 0.1 s apart in each sweep
...     return (RoundResult(1, 1, 0, 0.0, samples_s=tuple(base * s for s in speed),
...                         sampled_at=tuple(10.0 * k + 0.1 * c for k in range(4))),)
>>> model = estimate({c: cell(2.0 ** c, c) for c in range(8)})
>>> [round(v, 3) for v in model.adjusted(3)[0]]  # cell 3 (8 s) at the run's typical speed
[9.121, 9.121, 9.121, 9.121]
>>> round(model.spread, 3)  # half of log(1.3) either way
0.131
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from bench.results.records import RoundResult
from bench.results.store import StoredCell

NEIGHBOURS = 6  # samples of other cells, nearest in time, that estimate a moment
WINDOW_S = 2.0  # no neighbour further away than this
ITERATIONS = 2  # cell medians and moment effects, re-estimated in turn


@dataclass(frozen=True)
class MomentModel:
    """Each timed sample's log moment effect and adjusted value, by cell key and round
    (ok rounds, in order). ``spread`` is the sd of all effects: how much the machine's
    speed wandered within the run (0 when nothing could be estimated)."""

    effects: dict[Hashable, tuple[tuple[float, ...], ...]]
    samples: dict[Hashable, tuple[tuple[float, ...], ...]]
    spread: float

    def adjusted(self, key: Hashable) -> tuple[tuple[float, ...], ...] | None:
        """A cell's samples at the run's typical speed, grouped by round; ``None`` if
        the cell has none (no start times)."""
        return self.samples.get(key)

    @property
    def adjusts(self) -> bool:
        """Whether any sample was adjusted."""
        return bool(self.effects)


NONE = MomentModel({}, {}, 0.0)


def estimate(rounds: Mapping[Hashable, Sequence[RoundResult]]) -> MomentModel:
    """The moment model of one run from each cell's ok rounds (cell key -> rounds)."""
    keys, samples, times, owners, places = [], [], [], [], []
    for key, cell_rounds in rounds.items():
        timed = [r for r in cell_rounds if r.ok and r.timed]
        if len(timed) != len([r for r in cell_rounds if r.ok]):
            continue  # some samples have no start time: leave the cell as measured
        index = len(keys)
        keys.append(key)
        for position, round_ in enumerate(timed):
            samples += round_.samples_s
            times += round_.sampled_at
            owners += [index] * len(round_.samples_s)
            places += [(position, i) for i in range(len(round_.samples_s))]
    if len(keys) < 2:
        return NONE
    logs = np.log(np.asarray(samples, dtype=float))
    time_s = np.asarray(times, dtype=float)
    owner = np.asarray(owners)
    order = np.argsort(time_s, kind="stable")
    neighbours = _neighbours(time_s[order], owner[order])
    effects = np.zeros_like(logs)
    for _ in range(ITERATIONS):
        centre = _cell_medians(logs - effects, owner, len(keys))
        residual = (logs - centre[owner])[order]
        moment = np.array([np.median(residual[n]) if n.size else 0.0 for n in neighbours])
        effects = np.empty_like(logs)
        effects[order] = moment
    grouped = _grouped(effects, owner, places, keys)
    adjusted = {
        key: tuple(
            tuple(float(v / np.exp(e)) for v, e in zip(r.samples_s, effect, strict=True))
            for r, effect in zip([r for r in rounds[key] if r.ok], groups, strict=True)
        )
        for key, groups in grouped.items()
    }
    return MomentModel(grouped, adjusted, float(np.std(effects)))


def _neighbours(time_s: np.ndarray, owner: np.ndarray) -> list[np.ndarray]:
    """For each sample (sorted by time), the indices of the `NEIGHBOURS` samples of other
    cells nearest in time within `WINDOW_S`."""
    found = []
    reach = 4 * NEIGHBOURS  # candidates on each side; a cell rarely has two samples adjacent
    for j in range(time_s.size):
        low, high = max(0, j - reach), min(time_s.size, j + reach + 1)
        candidates = np.arange(low, high)
        candidates = candidates[owner[candidates] != owner[j]]
        distance = np.abs(time_s[candidates] - time_s[j])
        candidates, distance = candidates[distance <= WINDOW_S], distance[distance <= WINDOW_S]
        found.append(candidates[np.argsort(distance, kind="stable")[:NEIGHBOURS]])
    return found


def _cell_medians(logs: np.ndarray, owner: np.ndarray, cells: int) -> np.ndarray:
    return np.array([np.median(logs[owner == c]) for c in range(cells)])


def _grouped(effects, owner, places, keys) -> dict[Hashable, tuple[tuple[float, ...], ...]]:
    grouped: dict[Hashable, list[list[float]]] = {}
    for value, index, (position, _) in zip(effects, owner, places, strict=True):
        groups = grouped.setdefault(keys[index], [])
        while len(groups) <= position:
            groups.append([])
        groups[position].append(float(value))
    return {key: tuple(tuple(g) for g in groups) for key, groups in grouped.items()}


def with_moments(stored: Sequence[StoredCell]) -> tuple[list[StoredCell], MomentModel]:
    """One run's cells, each ok timing with its ``adjusted_samples`` set, and the model.

    Every timing cell of the run counts, whatever its backend or pass: what they share
    is the moment they were measured at.
    """
    timings = {
        index: item.result.timing.rounds
        for index, item in enumerate(stored)
        if item.result.status == "ok" and item.result.timing is not None
    }
    model = estimate(timings)
    cells = []
    for index, item in enumerate(stored):
        adjusted = model.adjusted(index)
        if adjusted is not None:
            timing = replace(item.result.timing, adjusted_samples=adjusted)
            item = replace(item, result=replace(item.result, timing=timing))
        cells.append(item)
    return cells, model
