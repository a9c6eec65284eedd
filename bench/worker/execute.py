"""Run one piece of a cell inside a worker process and return a typed record.

A timing cell is measured in pieces, each reported apart:

- a **round** (:func:`run_round`): build -> compile (first call) -> calibrate K (first
  round only; later rounds reuse it) -> warm-up -> samples. Rounds run in fresh workers
  with TensorFlow's default CPU allocator, and nothing else happens in them;
- its **extras** (:func:`run_extras`), once per cell, in a worker with the BFC allocator
  (``TF_CPU_ALLOCATOR_USE_BFC=true``) so its peak is measurable: allocator and RSS peaks
  over build, compile and a few steps -> XLA output check -> profile (in a fresh worker)
  -> Keras ``fit()``/``predict()`` step. A failure in one of them becomes a warning.

A fit cell runs whole (:func:`run_cell`). None of these raise for a problem of the cell
itself: it becomes a ``failed`` reply and the worker lives on.

What differs between Keras backends (the step program, synchronisation, memory peaks,
profiles) comes from the worker's backend adapter (`bench.measure.backends`); this
module imports no framework itself.

>>> from bench.spec.cell import Cell
>>> round_ = run_round(Cell("dense", (("units", 4),), (4,), 2, "train", device="gpu"),
...                    CellContext(RunSettings(), Path(".")), round_=1, position=0)
>>> round_.status, round_.reason  # on this CPU-only machine
('skipped', 'no GPU visible')
"""

from __future__ import annotations

import gc
import os
import socket
import time
import traceback
import warnings as warnings_module
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

import blocks.memory
from bench.measure import backends, memory
from bench.measure.backends import Backend
from bench.measure.keras_step import keras_step_time
from bench.measure.model import NUM_CLASSES, build_model, model_costs
from bench.measure.rounds import StepProgram, measure_round, sample_seconds, timed_samples
from bench.results.records import (
    CellCosts,
    CellExtras,
    CellResult,
    MemoryResult,
    ProfileResult,
    Reply,
    RoundResult,
    assemble,
)
from bench.results.rows import TRAIN_FLOP_FACTOR
from bench.results.text import first_line
from bench.spec.cell import Cell
from bench.spec.config import RunSettings


@dataclass(frozen=True)
class CellContext:
    """Where a cell may write (profiles) and how it is measured."""

    settings: RunSettings
    run_dir: Path
    backend: Backend = field(default_factory=lambda: backends.load(_backend_name()))
    # programs kept alive between the visits of a round: cell id -> (program, K)
    kept: dict[str, tuple[StepProgram, int]] = field(default_factory=dict)


def _backend_name() -> str:
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def run_cell(cell: Cell, context: CellContext) -> CellResult:
    """Run a cell whole in this process: a fit cell, or a timing cell as one round plus
    its extras (the runner instead spreads a timing cell's rounds over fresh workers).
    Never raises for a problem of the cell itself."""
    start = time.perf_counter()
    skip = context.backend.skip_reason(cell)
    if skip:
        return CellResult("skipped", reason=skip, wall_s=time.perf_counter() - start)
    if cell.pass_ != "fit":
        round_ = run_round(cell, context, round_=1, position=0)
        extras = run_extras(cell, context) if round_.status == "ok" else round_
        result = assemble(round_.costs, [round_], extras)
        return CellResult(**{**vars(result), "wall_s": time.perf_counter() - start})
    try:
        with context.backend.scope(cell, context.settings):
            from bench.fit.train import run_fit_cell

            result = CellResult("ok", fit=run_fit_cell(cell))
    except Exception as error:  # the cell failed; the worker lives on
        result = CellResult("failed", reason=_reason(error), traceback=_trace())
    return CellResult(**{**vars(result), "wall_s": time.perf_counter() - start})


def run_fit_cells(cells: list[Cell], context: CellContext) -> list[CellResult]:
    """Run the seeds of one fit configuration together (`bench.fit.group`: one stacked
    model where the block allows it); if that fails, each cell on its own, so every
    cell fails with its own reason. One result per cell, in order."""
    if len(cells) > 1 and not context.backend.skip_reason(cells[0]):
        start = time.perf_counter()
        try:
            with context.backend.scope(cells[0], context.settings):
                from bench.fit.group import run_fit_group

                fits = run_fit_group(cells)
            return [CellResult("ok", fit=fit, wall_s=fit.fit_wall_s) for fit in fits]
        except Exception:  # fall back: each cell on its own says what went wrong
            print(f"group of {len(cells)} failed after {time.perf_counter() - start:.1f} s; "
                  f"running its cells one by one\n{_trace()}", flush=True)  # fmt: skip
    return [run_cell(cell, context) for cell in cells]


def run_round(
    cell: Cell,
    context: CellContext,
    *,
    round_: int,
    position: int,
    steps: int | None = None,
    keep: bool = False,
) -> Reply:
    """Time one round of a timing cell (its first visit). ``steps`` is K from an earlier
    round (``None``: calibrate it now). ``keep`` keeps the compiled program for later
    visits (`sample_again`) until `drop_kept`."""
    started = time.time()
    skip = context.backend.skip_reason(cell)
    if skip:
        return Reply("skipped", reason=skip)
    warnings: list[str] = []
    try:
        with context.backend.scope(cell, context.settings, collect=not keep):
            costs = _costs(cell)
            start = time.perf_counter()
            model = build_model(cell, fixed_batch=True)
            build_s = time.perf_counter() - start
            if model.count_params() != costs.params:
                warnings.append(
                    f"closed-form params {costs.params} != Keras count_params "
                    f"{model.count_params()}"
                )
            program, fallback = _program(cell, model, context)
            timing = measure_round(program, context.settings, steps=steps)
            if keep:
                context.kept[cell.cell_id] = (program, timing.steps_per_sample)
    except Exception as error:
        return Reply("failed", reason=_reason(error), traceback=_trace())
    result = RoundResult(
        round=round_,
        pid=os.getpid(),
        position=position,
        started_at=started,
        build_s=build_s,
        compile_s=timing.compile_s,
        steps_per_sample=timing.steps_per_sample,
        samples_s=timing.samples_s,
        warmup_s=timing.warmup_s,
        host=socket.gethostname(),
        sampled_at=timing.sampled_at,
    )
    if fallback:
        warnings.append(fallback)
    return Reply("ok", round=result, costs=costs, warnings=tuple(warnings))


def sample_again(cell_id: str, context: CellContext, count: int, *, warmup: int = 0) -> dict:
    """A later visit of a kept cell: ``count`` more samples of its compiled program,
    after ``warmup`` discarded ones (the runner asks for them on the first revisit: the
    first call after other programs were built runs slow). ``{"samples_s": [...]}`` or
    ``{"reason": why}``, with ``"sampled_at"`` (each sample's start, wall clock)."""
    if cell_id not in context.kept:
        return {"reason": f"cell {cell_id} has no kept program in this worker"}
    program, steps = context.kept[cell_id]
    try:
        for _ in range(warmup):
            sample_seconds(program.run, steps)
        samples, sampled_at = timed_samples(program.run, steps, count)
        return {"samples_s": list(samples), "sampled_at": list(sampled_at)}
    except Exception as error:
        return {"reason": _reason(error)}


def drop_kept(context: CellContext) -> int:
    """Forget the kept programs (the end of a block of visits); how many there were."""
    count = len(context.kept)
    context.kept.clear()
    keras.backend.clear_session()
    gc.collect()
    return count


def run_extras(cell: Cell, context: CellContext) -> Reply:
    """Measure what a timing cell measures once: memory, XLA check, profile, Keras step."""
    backend = context.backend
    skip = backend.skip_reason(cell)
    if skip:
        return Reply("skipped", reason=skip)
    settings = context.settings
    warnings: list[str] = []
    try:
        with backend.scope(cell, settings):
            costs = _costs(cell)
            # Memory is tracked from before the build, and what the allocator already held
            # (earlier cells' leftovers in this worker) is subtracted: the peak is the
            # cell's own.
            tracker = backend.peak_reader(cell.device) if settings.memory else None
            if tracker is not None:
                tracker.start()
            model = build_model(cell, fixed_batch=True)
            program, fallback = _program(cell, model, context)
            program.run(1)  # trace and compile
            program.run(settings.memory_steps)
            memory_result = _memory_result(tracker, cell, costs, warnings) if tracker else None
            xla = cell.xla and not fallback
            x, _ = _batches(cell, settings.seed)
            xla_diff = None
            if xla and settings.xla_check:
                xla_diff = _optional(lambda: backend.compile_difference(model, x),
                                     "XLA check", warnings)  # fmt: skip
            profile = _profile(program, cell, context, warnings) if cell.profile else None
            fit_step_s = None
            if settings.fit_step:
                fit_step_s, fallback = _keras_step(cell, model, xla, fallback, warnings)
    except Exception as error:
        return Reply("failed", reason=_reason(error), traceback=_trace())
    extras = CellExtras(
        fit_step_s=fit_step_s,
        xla_max_abs_diff=xla_diff,
        xla_fallback=fallback,
        tf32=backend.tf32(),
        memory=memory_result,
        profile=profile,
    )
    return Reply("ok", costs=costs, extras=extras, warnings=tuple(warnings))


def _costs(cell: Cell) -> CellCosts:
    params, trainable, flops = model_costs(cell)
    factor = TRAIN_FLOP_FACTOR if cell.pass_ == "train" else 1
    return CellCosts(params, trainable, flops, flops * cell.batch_size * factor)


def _program(cell: Cell, model: keras.Model, context: CellContext) -> tuple[StepProgram, str]:
    """The backend's K-step program, and the reason compilation was dropped ("" if not)."""
    x, y = _batches(cell, context.settings.seed)
    return context.backend.program(cell, model, x, y)


def _keras_step(
    cell: Cell, model: keras.Model, xla: bool, fallback: str, warnings: list[str]
) -> tuple[float | None, str]:
    x, y = _batches(cell, 0)
    try:
        steps = 20
        step_s, kept_xla = keras_step_time(model, x, y, pass_=cell.pass_, xla=xla, steps=steps)
    except Exception as error:
        warnings.append(f"Keras fit/predict step not measured: {first_line(error)}")
        return None, fallback
    if xla and not kept_xla:
        fallback = fallback or "Keras turned jit_compile off for its fit()/predict() step"
    return step_s, fallback


def _optional(measure: Callable[[], float], what: str, warnings: list[str]) -> float | None:
    try:
        return measure()
    except Exception as error:
        warnings.append(f"{what} not measured: {first_line(error)}")
        return None


def _reason(error: Exception) -> str:
    return f"{type(error).__name__}: {first_line(error)}"


def _trace() -> str:
    return traceback.format_exc()[-4000:]


def _batches(cell: Cell, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two fixed batches of inputs (normal noise) and integer labels, from the run seed."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, cell.batch_size, *cell.input_shape)).astype(np.float32)
    y = rng.integers(0, 10, size=(2, cell.batch_size)).astype(np.int32)
    return x, y


def _memory_result(
    tracker: memory.PeakReader, cell: Cell, costs: CellCosts, warnings: list[str]
) -> MemoryResult | None:
    try:
        peak = tracker.stop()
        estimate = blocks.memory.estimate(
            cell.block,
            cell.input_shape,
            batch_size=cell.batch_size,
            pass_=cell.pass_,
            params=costs.params,
            trainable=costs.params_trainable,
            num_classes=NUM_CLASSES,
            dtype_policy=cell.dtype_policy,
            **cell.knob_dict,
        )
        own_peak = peak.peak_bytes
        if own_peak is not None and peak.start_bytes:
            own_peak -= peak.start_bytes
        return MemoryResult(
            peak_bytes=own_peak,
            allocator=peak.allocator,
            rss_peak_bytes=peak.rss_peak_bytes,
            peak_bytes_estimate=sum(estimate.values()),
            estimate=estimate,
        )
    except Exception as error:
        warnings.append(f"memory not measured: {first_line(error)}")
        return None


def _profile(
    program, cell: Cell, context: CellContext, warnings: list[str]
) -> ProfileResult | None:
    try:
        with warnings_module.catch_warnings(record=True) as caught:
            warnings_module.simplefilter("always")
            result = context.backend.profile(
                program.step,
                logdir=context.run_dir / "tensorboard",
                run_name=cell.slug,
                steps=context.settings.profile_steps,
                step_name=cell.pass_,
            )
        warnings.extend(f"profile: {w.message}" for w in caught)
        return result
    except Exception as error:
        warnings.append(f"profile not captured: {first_line(error)}")
        return None
