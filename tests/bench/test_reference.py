"""The reference workload's clock, on literal samples: which reference samples a cell's
round is measured against, and what dividing by them cancels."""

from dataclasses import replace

import numpy as np
import pytest

from bench.results.records import RoundResult
from bench.results.reference import WINDOW_S, ReferenceClock


def _round(number, values, start, *, pid=7, host="vm", step=1.0):
    return RoundResult(number, pid, 0, 0.0, samples_s=tuple(values), host=host,
                       sampled_at=tuple(start + step * i for i in range(len(values))))  # fmt: skip


def test_a_round_is_measured_against_the_reference_samples_of_its_own_block():
    # round 1 ran two blocks in one worker: the machine was 2x slower in the second
    reference = _round(1, [1.0, 1.0, 1.0, 2.0, 2.0, 2.0], 0.0)
    reference = replace(reference, sampled_at=(0.0, 1.0, 2.0, 100.0, 101.0, 102.0))
    clock = ReferenceClock.of({"ref": (reference,)})
    first_block = _round(1, [3.0, 3.0], 0.5)
    second_block = _round(1, [6.0, 6.0], 100.5)
    assert clock.level(first_block) == pytest.approx(np.log(1.0))
    assert clock.level(second_block) == pytest.approx(np.log(2.0))
    assert clock.relative([first_block], [first_block.samples_s]) == ((3.0, 3.0),)
    assert clock.relative([second_block], [second_block.samples_s]) == ((3.0, 3.0),)


def test_the_levels_of_several_reference_cells_are_averaged_in_logs():
    clock = ReferenceClock.of({"forward": (_round(1, [1.0] * 3, 0.0),),
                               "train": (_round(1, [4.0] * 3, 0.2),)})  # fmt: skip
    assert clock.level(_round(1, [5.0], 1.0)) == pytest.approx(np.log(2.0))


def test_a_round_outside_every_window_falls_back_to_its_worker_process_only():
    clock = ReferenceClock.of({"ref": (_round(1, [2.0] * 3, 0.0, pid=7),)})
    burst = _round(1, [4.0], 50.0, pid=7)  # one visit per round: its samples are elsewhere
    assert clock.level(burst) == pytest.approx(np.log(2.0))
    other_process = _round(1, [4.0], 50.0, pid=8)
    other_host = _round(1, [4.0], 1.0, host="node-2")  # inside the window, another machine
    other_round = _round(2, [4.0], 1.0)
    for cell in (other_process, other_host, other_round):
        assert clock.level(cell) is None
        assert clock.relative([cell], [cell.samples_s]) is None  # compare keeps raw


def test_samples_within_the_window_count_and_the_window_is_bounded():
    clock = ReferenceClock.of({"ref": (_round(1, [1.0, 9.0], 0.0, step=10.0),)})
    assert clock.level(_round(1, [1.0], 10.0 + WINDOW_S - 0.1)) == pytest.approx(np.log(9.0))
    assert clock.level(_round(1, [1.0], 5.0)) == pytest.approx(np.log(5.0))  # both: median


def test_without_start_times_or_reference_samples_there_is_no_clock():
    untimed = RoundResult(1, 7, 0, 0.0, samples_s=(1.0, 1.0))
    assert not ReferenceClock.of({"ref": (untimed,)})
    assert ReferenceClock.of({"ref": (untimed,)}).relative([untimed], [(1.0, 1.0)]) is None
    clock = ReferenceClock.of({"ref": (_round(1, [1.0], 0.0),)})
    assert clock.level(untimed) is None  # the cell's own round has no start times


def test_the_moment_adjusted_samples_are_used_when_given():
    reference = _round(1, [2.0, 2.0], 0.0)
    clock = ReferenceClock.of({"ref": (reference,)}, {"ref": ((4.0, 4.0),)})
    assert clock.level(_round(1, [1.0], 0.5)) == pytest.approx(np.log(4.0))
