"""Building timing records in tests: samples split into rounds like the runner makes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.results.records import CellCosts, CellExtras, RoundResult, TimingResult


def timing_result(
    *,
    params: int,
    params_trainable: int,
    flops: int,
    flops_per_step: int,
    samples_s: Sequence[float] = (),
    rounds: int = 1,
    build_s: float = 0.1,
    compile_s: float = 0.5,
    steps_per_sample: int = 50,
    warmup_s: Sequence[float] = (),
    **extras: Any,
) -> TimingResult:
    """A timing result whose samples are dealt into ``rounds`` rounds in order
    (round 1 gets the first share), each from its own made-up process."""
    share = -(-len(samples_s) // rounds) if samples_s else 0
    made = [
        RoundResult(
            round=index + 1,
            pid=1000 + index,
            position=0,
            started_at=float(index),
            build_s=build_s,
            compile_s=compile_s,
            steps_per_sample=steps_per_sample,
            samples_s=tuple(samples_s[index * share : (index + 1) * share]),
            warmup_s=tuple(warmup_s) if index == 0 else (),
        )
        for index in range(rounds)
    ]
    costs = CellCosts(params, params_trainable, flops, flops_per_step)
    return TimingResult.assemble(costs, made, CellExtras(**extras))
