"""Run one cell inside a worker process and return its ``CellResult``.

Phases of a timing cell, each reported apart: build -> (XLA check) -> compile + timing
-> Keras end-to-end step -> memory peak -> (profile). Profiling runs after timing on
separate steps, so a profiled step is never a timed step. A failure in an optional
phase (memory, profile, Keras step) becomes a warning; the timing stands.

>>> # run_cell(cell, RunSettings(), run_dir=Path("results/run"))
"""

from __future__ import annotations

import gc
import time
import traceback
import warnings as warnings_module
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import blocks.memory
from bench.measure import memory, profiling
from bench.measure.model import NUM_CLASSES, build_model, model_costs
from bench.measure.timing import keras_step_time, make_program, time_program
from bench.results.records import CellResult, MemoryResult, ProfileResult, TimingResult
from bench.results.rows import TRAIN_FLOP_FACTOR
from bench.results.text import first_line
from bench.spec.cell import Cell
from bench.spec.config import RunSettings


@dataclass(frozen=True)
class CellContext:
    """Where a cell may write (profiles) and how it is measured."""

    settings: RunSettings
    run_dir: Path


def gpu_visible() -> bool:
    return bool(tf.config.list_physical_devices("GPU"))


def run_cell(cell: Cell, context: CellContext) -> CellResult:
    """Run one cell; never raises for a problem of the cell itself (it becomes ``failed``)."""
    start = time.perf_counter()
    if cell.device == "gpu" and not gpu_visible():
        return CellResult("skipped", reason="no GPU visible", wall_s=time.perf_counter() - start)
    try:
        tf.config.experimental.enable_tensor_float_32_execution(context.settings.tf32)
        keras.utils.set_random_seed(context.settings.seed)
        keras.config.set_dtype_policy(cell.dtype_policy)
        device = "/GPU:0" if cell.device == "gpu" else "/CPU:0"
        with tf.device(device):
            if cell.pass_ == "fit":
                from bench.fit.train import run_fit_cell

                result = CellResult("ok", fit=run_fit_cell(cell))
            else:
                timing, warnings = _time_cell(cell, context)
                result = CellResult("ok", timing=timing, warnings=tuple(warnings))
    except Exception as error:  # the cell failed; the worker lives on
        result = CellResult(
            "failed",
            reason=f"{type(error).__name__}: {first_line(error)}",
            traceback=traceback.format_exc()[-4000:],
        )
    finally:
        keras.config.set_dtype_policy("float32")
        keras.backend.clear_session()
        gc.collect()
    return CellResult(**{**vars(result), "wall_s": time.perf_counter() - start})


def _time_cell(cell: Cell, context: CellContext) -> tuple[TimingResult, list[str]]:
    settings = context.settings
    warnings: list[str] = []
    params, trainable, flops = model_costs(cell)
    # Memory is tracked from before the build, and what the allocator already held
    # (earlier cells' leftovers in this worker) is subtracted: the peak is this cell's own.
    tracker = memory.PeakTracker(cell.device) if settings.memory else None
    if tracker is not None:
        tracker.start()
    start = time.perf_counter()
    model = build_model(cell, fixed_batch=True)
    build_s = time.perf_counter() - start
    if model.count_params() != params:
        warnings.append(f"closed-form params {params} != Keras count_params {model.count_params()}")
    x, y = _batches(cell, settings.seed)

    fallback = ""
    no_jit = _layers_without_jit(model)
    xla = cell.xla and not no_jit
    if cell.xla and no_jit:
        fallback = (
            f"timed without XLA: layers {', '.join(no_jit)} do not support jit_compile "
            "(cuDNN kernels); Keras drops XLA for them too"
        )
    program = make_program(model, x, y, pass_=cell.pass_, xla=xla)
    timing = time_program(program, settings)
    memory_result = None
    if tracker is not None:
        memory_result = _memory_result(tracker, cell, params, trainable, warnings)
    # After the memory phase, so its extra compiles are not counted in the cell's peak.
    xla_diff = _xla_difference(model, x[0]) if xla and settings.xla_check else None

    profile_result = None
    if cell.profile:
        profile_result = _profile(program, cell, context, warnings)

    fit_step_s = None
    if settings.fit_step:
        try:
            steps = max(5, min(50, int(0.5 / max(min(timing.samples_s), 1e-6))))
            fit_step_s, kept_xla = keras_step_time(
                model, x, y, pass_=cell.pass_, xla=xla, steps=steps
            )
            if xla and not kept_xla:
                fallback = "Keras turned jit_compile off for its fit()/predict() step"
        except Exception as error:
            warnings.append(f"Keras fit/predict step not measured: {first_line(error)}")
    factor = TRAIN_FLOP_FACTOR if cell.pass_ == "train" else 1
    return (
        TimingResult(
            params=params,
            params_trainable=trainable,
            flops=flops,
            flops_per_step=flops * cell.batch_size * factor,
            build_s=build_s,
            compile_s=timing.compile_s,
            steps_per_sample=timing.steps_per_sample,
            samples_s=timing.samples_s,
            warmup_s=timing.warmup_s,
            fit_step_s=fit_step_s,
            xla_max_abs_diff=xla_diff,
            xla_fallback=fallback,
            tf32=tf.config.experimental.tensor_float_32_execution_enabled(),
            memory=memory_result,
            profile=profile_result,
        ),
        warnings,
    )


def _layers_without_jit(model: keras.Model) -> list[str]:
    """Names of layers that declare they cannot be XLA-compiled (e.g. cuDNN LSTM/GRU on
    GPU: Keras sets ``supports_jit = False`` on them and silently drops XLA)."""
    flatten = getattr(model, "_flatten_layers", None)
    layers = flatten() if flatten else model.layers
    return [layer.name for layer in layers if not getattr(layer, "supports_jit", True)]


def _batches(cell: Cell, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two fixed batches of inputs (normal noise) and integer labels, from the run seed."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, cell.batch_size, *cell.input_shape)).astype(np.float32)
    y = rng.integers(0, 10, size=(2, cell.batch_size)).astype(np.int32)
    return x, y


def _xla_difference(model: keras.Model, x: np.ndarray) -> float:
    """Max |XLA - no XLA| of the forward outputs on the same weights and inputs."""
    inputs = tf.constant(x)
    plain = tf.function(lambda v: model(v, training=False), jit_compile=False)(inputs)
    compiled = tf.function(lambda v: model(v, training=False), jit_compile=True)(inputs)
    return float(np.max(np.abs(plain.numpy().astype(np.float64) - compiled.numpy())))


def _memory_result(
    tracker: memory.PeakTracker, cell: Cell, params: int, trainable: int, warnings: list[str]
) -> MemoryResult | None:
    try:
        peak = tracker.stop()
        estimate = blocks.memory.estimate(
            cell.block,
            cell.input_shape,
            batch_size=cell.batch_size,
            pass_=cell.pass_,
            params=params,
            trainable=trainable,
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
            result = profiling.capture(
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
