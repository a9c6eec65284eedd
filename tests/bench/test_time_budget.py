"""Where a run's time went: the split of its wall clock from literal records."""

from __future__ import annotations

import re

import pytest

from bench.results.records import CellCosts, CellResult, FitResult, RoundResult, TimingResult
from bench.results.store import RunInfo, StoredCell
from bench.results.time_budget import time_budget
from bench.spec.cell import Cell
from reports.time_budget import time_budget_section

COSTS = CellCosts(10, 10, 20, 40)
CREATED = 1000.0


def run_info(finished_at: float | None = 1071.0) -> RunInfo:
    return RunInfo("r", "n", "h", {}, {}, 3, CREATED, finished_at, 3)


def timing_cell(units: int, rounds: list[RoundResult], finished_at: float) -> StoredCell:
    cell = Cell("dense", (("units", units),), (4,), 2, "train")
    timing = TimingResult.assemble(COSTS, rounds, None)
    return StoredCell("r", cell, CellResult("ok", timing=timing), finished_at)


def fit_cell(finished_at: float) -> StoredCell:
    cell = Cell("dense", (("units", 3),), (4,), 2, "fit")
    fit = FitResult(params=10, metric="accuracy", epochs_run=1, curves={}, final_val_metric=None,
                    best_val_metric=None, best_epoch=None, test_metric=None, gap_end=None,
                    gap_best=None, onset_epoch=None, memorisation=None,
                    fit_wall_s=19.0)  # fmt: skip
    return StoredCell("r", cell, CellResult("ok", fit=fit), finished_at)


def round_(number: int, started: float, at: tuple[float, ...], *, steps: int = 10,
           sample: float = 0.01, host: str = "h1", **extra: float) -> RoundResult:  # fmt: skip
    return RoundResult(number, 7, 0, started, steps_per_sample=steps, host=host,
                       samples_s=tuple(sample for _ in at), sampled_at=at, **extra)  # fmt: skip


def two_rounds(host_b: str = "h1") -> list[StoredCell]:
    """Two cells in two rounds, their extras done at 1050, a fit cell at 1070."""
    a = [round_(1, 1010.0, (1013.0, 1020.0), build_s=0.5, compile_s=1.5, warmup_s=(0.01,)),
         round_(2, 1030.0, (1032.0,), build_s=0.5, compile_s=1.0)]  # fmt: skip
    b = [round_(1, 1012.0, (1014.0,), steps=5, sample=0.02, build_s=0.2, compile_s=0.3),
         round_(2, 1031.0, (1035.0,), steps=5, sample=0.02, host=host_b)]  # fmt: skip
    return [timing_cell(1, a, 1049.0), timing_cell(2, b, 1050.0), fit_cell(1070.0)]


def test_the_wall_splits_into_start_rounds_gaps_extras_and_fit() -> None:
    budget = time_budget(run_info(), two_rounds())
    first, second = budget.rounds
    assert (first.cells, first.visits) == (2, 1)
    assert first.span_s == pytest.approx(10.1)  # 1010 to the sample that ended at 1020.1
    assert first.setup_s == pytest.approx(2.5)  # 0.5 + 1.5 + 0.2 + 0.3
    assert first.samples_s == pytest.approx(0.3)  # 2 x 0.01 x 10 + 0.02 x 5
    assert first.warmup_s == pytest.approx(0.1)
    assert first.other_s == pytest.approx(10.1 - 2.5 - 0.3 - 0.1)
    assert second.span_s == pytest.approx(5.1)
    assert budget.start_s == pytest.approx(10.0)
    assert budget.between_rounds_s == pytest.approx(1030.0 - 1020.1)
    assert budget.extras_s == pytest.approx(1050.0 - 1035.1)
    assert budget.fit_s == pytest.approx(20.0)
    assert (budget.wall_s, budget.fit_cells, budget.hosts) == (71.0, 1, 1)


def test_failed_rounds_and_failed_cells_take_no_part() -> None:
    cells = two_rounds()
    failed = RoundResult(3, 7, 0, 1060.0, reason="timeout")
    cells[0] = timing_cell(1, [*cells[0].result.timing.rounds, failed], 1049.0)
    cells.append(StoredCell("r", Cell("dense", (("units", 9),), (4,), 2, "train"),
                            CellResult("failed", reason="boom"), 1065.0))  # fmt: skip
    budget = time_budget(run_info(), cells)
    assert [r.round for r in budget.rounds] == [1, 2]
    assert budget.timing_finished_at == 1050.0


def table_rows(text: str) -> dict[str, list[str]]:
    """The section's table: part -> [inside it, wall, share]."""
    rows = [line.strip("|").split("|") for line in text.splitlines() if line.startswith("| ")]
    return {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in rows}


def test_the_section_shows_each_part_and_what_dominates() -> None:
    text = time_budget_section(time_budget(run_info(), two_rounds()))
    rows = table_rows(text)
    assert rows["round 1 (2 cells, 1 visits)"][0].startswith("setup 2s · samples 0s · warm-up 0s")
    assert rows["round 1 (2 cells, 1 visits)"][1:] == ["10s", "14%"]  # 10.1 s of 71 s
    assert rows["between rounds"][1] == "10s" and rows["extras"][1] == "15s"
    assert rows["fit study"][0] == "1 fit cell"
    assert rows["rest"][1] == "1s"  # 71 s of wall, 70 s accounted for
    assert rows["**total**"][1:] == ["1m11s", "100%"]
    assert "Cells ran on" not in text
    # one more round: the mean span (7.6 s) and the one gap between rounds (9.9 s)
    assert re.search(r"one more round about 1[78]s\.", text)


def test_parts_on_several_hosts_are_said_to_overlap() -> None:
    text = time_budget_section(time_budget(run_info(), two_rounds(host_b="h2")))
    assert "Cells ran on 2 hosts at once" in text


def test_rounds_without_start_times_are_not_split() -> None:
    legacy = [timing_cell(1, [RoundResult(1, None, 0, 0.0, samples_s=(0.01,))], 1050.0)]
    budget = time_budget(run_info(), legacy)
    assert not budget.placed
    assert "cannot be split" in time_budget_section(budget)


def test_an_unfinished_run_is_split_up_to_its_last_cell() -> None:
    text = time_budget_section(time_budget(run_info(finished_at=None), two_rounds()))
    inside, wall, _ = table_rows(text)["**total**"]
    assert "unfinished run" in inside and wall == "1m10s"
