"""The report's "Where the time went" section: a run's wall clock by phase.

The split comes from the stored records (`bench.results.time_budget`): each round's
span and, inside it, its cells' setup (build + first call), warm-up and timed samples;
the gaps before and between rounds; the extras and the fit study. It says what a preset
costs and what another visit or round would add, so rounds and visits can be chosen for
a time budget.

>>> from bench.results.time_budget import RoundBudget, TimeBudget
>>> one = RoundBudget(1, cells=4, visits=2, started_at=10.0, ended_at=70.0, setup_s=20.0,
...                   warmup_s=2.0, samples_s=30.0)
>>> budget = TimeBudget(0.0, 100.0, (one,), timing_finished_at=80.0, fit_finished_at=99.0,
...                     fit_cells=3)
>>> import textwrap
>>> print(textwrap.fill(time_budget_section(budget).splitlines()[-1], 88))
Timed samples are 30% of the wall and setup 20%: every round builds, traces and compiles
each of its cells again in its fresh worker. One more visit per round adds at least 15s
(one sweep's timed samples, in every round); one more round about 1m10s.
"""

from __future__ import annotations

from bench.results.text import format_duration
from bench.results.time_budget import TimeBudget
from reports.markdown import table
from reports.units import format_percent

NOTE = (
    "The run's wall clock from its start to its last cell, split by what its stored "
    "records account for: a round's span runs from its first cell's start to its last "
    "sample's end; *setup* is every cell's build and first call (trace, compile, one "
    "step), *samples* the timed samples, *warm-up* the discarded ones, and the rest of "
    "the span calibrates K (first round), re-warms on the second visit and dispatches "
    "between cells. A resumed run's wall includes the time between its invocations."
)


def time_budget_section(budget: TimeBudget) -> str:
    """The section's markdown: a note, the table of parts, and what dominates."""
    if not budget.rounds and budget.fit_finished_at is None:
        return "No timing round or fit cell finished: there is no time to split."
    if not budget.placed:
        return ("This run's rounds carry no wall-clock start times (stored before they were "
                "recorded), so its time cannot be split.")  # fmt: skip
    wall = budget.wall_s
    rows: list[list[str]] = []

    def add(part: str, seconds: float, inside: str = "") -> None:
        rows.append([part, inside, format_duration(seconds), _share(seconds, wall)])

    add("start", budget.start_s, "first worker (TensorFlow's import), probe, canary")
    for part in budget.rounds:
        inside = " · ".join([
            f"setup {format_duration(part.setup_s)}",
            f"samples {format_duration(part.samples_s)}",
            f"warm-up {format_duration(part.warmup_s)}",
            f"calibration, re-warm and dispatch {format_duration(part.other_s)}",
        ])  # fmt: skip
        add(f"round {part.round} ({part.cells} cells, {part.visits} visits)", part.span_s,
            inside)  # fmt: skip
    if len(budget.rounds) > 1:
        add("between rounds", budget.between_rounds_s, "a fresh worker and the canary each")
    if budget.timing_finished_at is not None:
        add("extras", budget.extras_s,
            "allocator peaks, XLA checks and profiles, in workers of their own")  # fmt: skip
    if budget.fit_finished_at is not None:
        add("fit study", budget.fit_s,
            f"{budget.fit_cells} fit cell{'s' if budget.fit_cells != 1 else ''}")  # fmt: skip
    if wall - budget.accounted_s > 0.5:
        add("rest", wall - budget.accounted_s, "after the last cell, or gaps a resume left")
    add("**total**", wall, "" if budget.finished_at is not None else "unfinished run: so far")
    lines = [NOTE, table(["part", "inside it", "wall", "share"], rows, left=2)]
    if budget.hosts > 1:
        lines.append(f"> Cells ran on {budget.hosts} hosts at once: the parts overlap, so "
                     "their shares do not add up to the wall.")  # fmt: skip
    if budget.rounds:
        lines.append(_verdict(budget, wall))
    return "\n\n".join(lines)


def _verdict(budget: TimeBudget, wall: float) -> str:
    rounds = budget.rounds
    per_visit = sum(r.per_visit_s for r in rounds)
    gaps = budget.between_rounds_s / (len(rounds) - 1) if len(rounds) > 1 else budget.start_s
    per_round = sum(r.span_s for r in rounds) / len(rounds) + gaps
    return (
        f"Timed samples are {_share(budget.samples_s, wall)} of the wall and setup "
        f"{_share(budget.setup_s, wall)}: every round builds, traces and compiles each of "
        f"its cells again in its fresh worker. One more visit per round adds at least "
        f"{format_duration(per_visit)} (one sweep's timed samples, in every round); one "
        f"more round about {format_duration(per_round)}."
    )


def _share(seconds: float, wall: float) -> str:
    return format_percent(seconds / wall, digits=2) if wall > 0 else "—"
