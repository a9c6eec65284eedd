"""The moment model (`bench.results.moments`) on literal runs with known structure:
a machine speed shared by every cell at each moment, plus each cell's own noise."""

from __future__ import annotations

import numpy as np
import pytest

from bench.results.moments import NEIGHBOURS, estimate, with_moments
from bench.results.records import CellResult, RoundResult, TimingResult
from bench.results.stats import RoundStats
from bench.results.store import StoredCell
from bench.spec.cell import Cell

CELLS = 12
ROUNDS = 3
SWEEPS = 12


def run(*, own_sd=0.03, machine_sd=0.15, slow_cell=None, timed=True, seed=0):
    """Rounds of `CELLS` cells: each round a stretch of `SWEEPS` sweeps, each sweep visits
    every cell 0.06 s apart; the machine's speed is one random factor per sweep (shared by
    every cell in it) and drifts per round; cell c's true step time is 1 ms x (c + 1)."""
    rng = np.random.default_rng(seed)
    samples = {c: [] for c in range(CELLS)}
    times = {c: [] for c in range(CELLS)}
    for round_ in range(ROUNDS):
        drift = rng.normal(0.0, machine_sd)
        for sweep in range(SWEEPS):
            speed = drift + rng.normal(0.0, machine_sd)
            for slot, c in enumerate(rng.permutation(CELLS)):
                true = np.log(1e-3 * (c + 1)) + (np.log(1.5) if c == slow_cell else 0.0)
                samples[c].append(np.exp(true + speed + rng.normal(0.0, own_sd)))
                times[c].append(1000.0 * round_ + 5.0 * sweep + 0.06 * slot)
    per = SWEEPS
    rounds = {}
    for c in range(CELLS):
        rounds[c] = tuple(
            RoundResult(
                r + 1,
                100 + r,
                0,
                0.0,
                samples_s=tuple(samples[c][r * per : (r + 1) * per]),
                sampled_at=tuple(times[c][r * per : (r + 1) * per]) if timed else (),
            )  # fmt: skip
            for r in range(ROUNDS)
        )
    return rounds


def test_taking_out_the_shared_moment_narrows_every_interval_and_keeps_the_medians():
    rounds = run()
    model = estimate(rounds)
    assert model.adjusts
    for c, cell_rounds in rounds.items():
        raw = RoundStats.from_rounds([r.samples_s for r in cell_rounds])
        adjusted = RoundStats.from_rounds(model.adjusted(c))
        assert adjusted.relative_ci < raw.relative_ci / 2  # the machine's part is gone
        # every cell keeps its level (and the cells' ratios stay what they are)
        assert adjusted.median == pytest.approx(raw.median, rel=0.10)
    medians = [RoundStats.from_rounds(model.adjusted(c)).median for c in range(CELLS)]
    ratios = np.array(medians) / medians[0]
    assert ratios == pytest.approx(np.arange(1, CELLS + 1), rel=0.03)


def test_a_cell_of_its_own_speed_is_not_pulled_to_its_neighbours():
    rounds = run(slow_cell=5)
    model = estimate(rounds)
    level = [RoundStats.from_rounds(model.adjusted(c)).median / (1e-3 * (c + 1))
             for c in range(CELLS)]  # fmt: skip
    typical = np.median(level)  # the run's typical machine speed, the same for every cell
    assert level[5] / typical == pytest.approx(1.5, rel=0.03)
    assert np.delete(level, 5) / typical == pytest.approx(1.0, rel=0.03)


def test_on_a_quiet_machine_the_model_changes_next_to_nothing():
    rounds = run(machine_sd=0.0)
    model = estimate(rounds)
    assert model.spread < 0.03  # the cells' own noise, median of NEIGHBOURS of them
    for c, cell_rounds in rounds.items():
        raw = RoundStats.from_rounds([r.samples_s for r in cell_rounds]).median
        assert RoundStats.from_rounds(model.adjusted(c)).median == pytest.approx(raw, rel=0.02)


def test_samples_without_start_times_are_left_as_measured():
    rounds = run(timed=False)
    assert not estimate(rounds).adjusts
    mixed = {**run(), 0: run(timed=False)[0]}
    model = estimate(mixed)
    assert model.adjusted(0) is None and model.adjusted(1) is not None


def test_with_moments_sets_the_derived_samples_and_never_stores_them():
    rounds = run()
    stored = [
        StoredCell("r", Cell("dense", (("units", c + 1),), (4,), 2, "train"),
                   CellResult("ok", timing=TimingResult(1, 1, 1, 1, rounds=cell_rounds)), 0.0)
        for c, cell_rounds in rounds.items()
    ]  # fmt: skip
    cells, model = with_moments(stored)
    timing = cells[3].result.timing
    assert timing.adjusted_samples == model.adjusted(3)
    assert timing.stat_samples == timing.adjusted_samples != timing.round_samples
    assert "adjusted_samples" not in cells[3].result.to_dict()["timing"]
    assert stored[3].result.timing.stat_samples == stored[3].result.timing.round_samples


def test_neighbours_are_other_cells_only():
    # two cells alternate; each sample's neighbours are the other cell's samples
    rounds = {
        c: (RoundResult(1, 1, 0, 0.0, samples_s=tuple([1.0 + c] * 2 * NEIGHBOURS),
                        sampled_at=tuple(0.1 * (2 * i + c) for i in range(2 * NEIGHBOURS))),)
        for c in range(2)
    }  # fmt: skip
    model = estimate(rounds)
    assert model.adjusted(1)[0] == pytest.approx((2.0,) * 2 * NEIGHBOURS)
