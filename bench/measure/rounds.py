"""Rounds of samples from a step program, on any backend: the number blockbench reports.

A backend (`bench.measure.backends`) turns a model into a `StepProgram`: ``run(k)`` runs
``k`` steps and returns a host value, so the device work has finished when it returns.
`measure_round` times the first call apart (trace + compile + one step), calibrates K
so a sample lasts at least ``min_sample_s``, discards warm-up samples, and returns
per-step seconds. Nothing here imports a framework.

>>> program = StepProgram(run=lambda k: time.sleep(0.0005 * k) or 0.0, step=lambda i: 0.0)
>>> timing = measure_round(program, RunSettings(repeats=2, min_sample_s=0.005), steps=10)
>>> timing.steps_per_sample, len(timing.samples_s), timing.samples_s[0] >= 0.0005
(10, 2, True)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.spec.config import RunSettings


@dataclass(frozen=True)
class ModelTiming:
    """Raw timing of one model: compile time, K, per-step seconds of each sample."""

    compile_s: float
    steps_per_sample: int
    samples_s: tuple[float, ...]
    warmup_s: tuple[float, ...]
    sampled_at: tuple[float, ...] = ()  # each sample's start, wall clock


@dataclass(frozen=True)
class StepProgram:
    """A compiled loop: ``run(k)`` runs k steps in one call and returns a host value;
    ``step(i)`` runs a single step (for profiling and memory phases)."""

    run: Callable[[int], float]
    step: Callable[[int], float]


def measure_round(
    program: StepProgram, settings: RunSettings, *, steps: int | None = None
) -> ModelTiming:
    """One round: compile (first call), calibrate K unless ``steps`` gives it (later
    rounds reuse the first round's K, so every round times the same work), discard
    warm-up, then take ``settings.repeats`` samples."""
    start = time.perf_counter()
    program.run(1)
    compile_s = time.perf_counter() - start
    if steps is None:
        steps = calibrate(program.run, settings.min_sample_s, settings.max_steps_per_sample)
    warmup = tuple(sample_seconds(program.run, steps) for _ in range(settings.warmup))
    samples, sampled_at = timed_samples(program.run, steps, settings.repeats)
    return ModelTiming(compile_s, steps, samples, warmup, sampled_at)


def calibrate(run: Callable[[int], float], min_sample_s: float, max_steps: int) -> int:
    """Smallest K (grown geometrically) whose K-step call lasts at least ``min_sample_s``.

    A candidate K is timed twice and the faster call counts, so one slow call (a cold
    cache, a busy core) cannot pass a K whose samples then come out too short.

    >>> calibrate(lambda k: time.sleep(0.001 * k), 0.02, 1000) >= 15
    True
    """
    steps = 1
    while True:
        elapsed = min(_call_seconds(run, steps) for _ in range(2))
        if elapsed >= min_sample_s or steps >= max_steps:
            return steps
        # aim 20% past the target; at least double when the call was too short to trust
        guess = math.ceil(steps * 1.2 * min_sample_s / max(elapsed, 1e-9))
        steps = min(max_steps, max(steps * 2, guess) if elapsed < min_sample_s / 10 else guess)
        steps = max(steps, 2)


def _call_seconds(run: Callable[[int], float], steps: int) -> float:
    start = time.perf_counter()
    run(steps)  # returns a host float: the device work has finished
    return time.perf_counter() - start


def sample_seconds(run: Callable[[int], float], steps: int) -> float:
    """One sample: seconds per step of one ``steps``-step call."""
    return _call_seconds(run, steps) / steps


def timed_samples(
    run: Callable[[int], float], steps: int, count: int
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``count`` samples and the wall-clock moment each one started at.

    >>> samples, at = timed_samples(lambda k: 0.0, 3, 2)
    >>> len(samples), len(at), at[0] <= at[1]
    (2, 2, True)
    """
    samples, starts = [], []
    for _ in range(count):
        starts.append(time.time())
        samples.append(sample_seconds(run, steps))
    return tuple(samples), tuple(starts)
