"""The PyTorch backend: Keras layers are ``torch.nn.Module``s; eager or ``torch.compile``.

**The step.** A train step computes the loss eagerly or through ``torch.compile`` (the
compiled function is the forward pass and the loss; AOTAutograd compiles its backward),
calls ``backward()``, and applies Keras' Adam (1e-3) to the gradients eagerly. A forward
step runs the model under ``torch.no_grad()`` and adds the outputs' sum to an
accumulator. Both read one of two batches by the step's index.

**The K-step loop** is a Python loop (PyTorch has no device-side loop; CUDA launches are
asynchronous, so dispatch overlaps compute on a GPU), then the accumulator is fetched,
after ``torch.cuda.synchronize()`` on a GPU, before the clock stops.

Memory: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats`` on a GPU;
the RSS peak on CPU, with the reason the allocator peak is missing. Profiles:
``torch.profiler``, a Chrome trace under ``<run>/tensorboard/torch/`` and its top ops by
self time (TensorBoard's profile plugin does not read PyTorch traces).

torch is an optional extra: its wheels on PyPI bring the CUDA libraries (several GB).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import torch

from bench.measure.backends.base import Backend
from bench.measure.memory import Peak, PeakReader, RssPeak
from bench.measure.model import make_loss, make_optimizer
from bench.measure.reference import measure_peak, time_canary
from bench.measure.rounds import StepProgram
from bench.results.records import ProfileResult
from bench.spec.cell import Cell

CANARY_SIZE, CANARY_STEPS, CANARY_SAMPLES = 512, 50, 5
PROBE_SIZES = {"cpu": 1024, "gpu": 8192}
TOP = 5


def _device(kind: str) -> torch.device:
    return torch.device("cuda:0" if kind == "gpu" else "cpu")


def _sync(kind: str) -> None:
    if kind == "gpu":
        torch.cuda.synchronize()


class TorchBackend(Backend):
    name = "torch"

    def gpu_visible(self) -> bool:
        return torch.cuda.is_available()

    def program(
        self, cell: Cell, model: keras.Model, x: np.ndarray, y: np.ndarray
    ) -> tuple[StepProgram, str]:
        return make_program(model, x, y, pass_=cell.pass_, device=cell.device,
                            compiled=cell.xla), ""  # fmt: skip

    def compile_difference(self, model: keras.Model, x: np.ndarray) -> float:
        inputs = torch.as_tensor(x[0], device=model.trainable_variables[0].value.device)
        with torch.no_grad():
            plain = model(inputs, training=False)
            compiled = torch.compile(lambda v: model(v, training=False))(inputs)
        return float((plain.double() - compiled.double()).abs().max())

    def peak_reader(self, device: str) -> PeakReader:
        return TorchPeak(device)

    def profile(
        self, step: Any, *, logdir: Path, run_name: str, steps: int, step_name: str
    ) -> ProfileResult:
        return capture_trace(step, logdir=logdir, run_name=run_name, steps=steps,
                             step_name=step_name)  # fmt: skip

    def tf32(self) -> bool:
        return bool(torch.backends.cuda.matmul.allow_tf32)

    def canary(self) -> dict[str, Any]:
        label = f"torch matmul {CANARY_SIZE}x{CANARY_SIZE} float32, {CANARY_STEPS} per sample"
        return time_canary(matmul_chain(CANARY_SIZE, "cpu"), steps=CANARY_STEPS,
                           samples=CANARY_SAMPLES, label=label)  # fmt: skip

    def peak_flops(self, device: str) -> dict[str, Any]:
        if device == "gpu" and not self.gpu_visible():
            return {"peak_flops": None, "reason": "no GPU visible"}
        size = PROBE_SIZES[device]
        method = f"chained {size}x{size} float32 torch.matmul, synchronised at the end"
        return measure_peak(matmul_chain(size, device), size=size, method=method)


def make_program(
    model: keras.Model, x: np.ndarray, y: np.ndarray, *, pass_: str, device: str,
    compiled: bool,
) -> StepProgram:  # fmt: skip
    """The K-step program of a forward or train pass, eager or ``torch.compile``."""
    target = _device(device)
    xs = torch.as_tensor(x, device=target)
    ys = torch.as_tensor(y, device=target, dtype=torch.long)
    total = {"value": torch.zeros((), device=target)}
    if pass_ == "train":
        optimizer = make_optimizer()
        optimizer.build(model.trainable_variables)
        loss_fn = make_loss()

        def loss_of(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
            return loss_fn(yb, model(xb, training=True))

        forward = torch.compile(loss_of) if compiled else loss_of

        def step(index: int) -> torch.Tensor:
            model.zero_grad()
            loss = forward(xs[index % 2], ys[index % 2])
            loss.backward()
            grads = [v.value.grad for v in model.trainable_variables]
            with torch.no_grad():
                optimizer.apply(grads, model.trainable_variables)
            return loss.detach()

    elif pass_ == "forward":

        def infer(xb: torch.Tensor) -> torch.Tensor:
            return model(xb, training=False).float().sum()

        run_forward = torch.compile(infer) if compiled else infer

        def step(index: int) -> torch.Tensor:
            with torch.no_grad():
                return run_forward(xs[index % 2])

    else:
        raise ValueError(f"pass must be 'forward' or 'train', got {pass_!r}")

    def run(count: int) -> float:
        accumulated = total["value"]
        for index in range(count):
            accumulated = accumulated + step(index)
        _sync(device)
        total["value"] = accumulated.detach()
        return float(accumulated)

    return StepProgram(run=run, step=lambda index: run(1))


def matmul_chain(size: int, device: str) -> Callable[[int], float]:
    """``run(k)``: ``k`` chained float32 ``size``² matmuls, synchronised and fetched."""
    generator = torch.Generator().manual_seed(1)
    a = (torch.randn(size, size, generator=generator) / size**0.5).to(_device(device))
    b = (torch.randn(size, size, generator=generator) / size**0.5).to(_device(device))

    def run(count: int) -> float:
        x = a
        with torch.no_grad():
            for _ in range(count):
                x = x @ b
        _sync(device)
        return float(x.sum())

    return run


class TorchPeak(PeakReader):
    """``torch.cuda.max_memory_allocated`` on a GPU (reset at start); RSS everywhere."""

    def __init__(self, device: str) -> None:
        self.device = device
        self._rss: RssPeak | None = None
        self._start = 0

    def start(self) -> None:
        if self.device == "gpu":
            torch.cuda.reset_peak_memory_stats()
            self._start = torch.cuda.memory_allocated()
        self._rss = RssPeak()

    def stop(self) -> Peak:
        if self._rss is None:
            raise RuntimeError("TorchPeak.stop() called before start()")
        rss = self._rss.stop()
        if self.device != "gpu":
            why = "unavailable: PyTorch's CPU allocator keeps no peak statistics; see the RSS peak"
            return Peak(None, why, rss)
        peak = torch.cuda.max_memory_allocated()
        return Peak(int(peak), "cuda:0 PyTorch caching allocator", rss, self._start)


def capture_trace(
    step: Callable[[int], float], *, logdir: Path, run_name: str, steps: int, step_name: str
) -> ProfileResult:
    """``torch.profiler`` over ``steps`` steps: a Chrome trace and the top ops."""
    from torch.profiler import ProfilerActivity, profile, record_function

    started = time.perf_counter()
    activities = [ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(ProfilerActivity.CUDA)
    step(0)  # warm-up, untraced
    with profile(activities=activities, profile_memory=True) as recorded:
        for index in range(steps):
            with record_function(f"{step_name}#{index}"):
                step(index)
    path = Path(logdir) / "torch" / f"{run_name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    recorded.export_chrome_trace(str(path))
    events = [e for e in recorded.key_averages() if not e.key.startswith(step_name + "#")]
    busy = sum(e.self_cpu_time_total for e in events) or 1.0
    ranked = sorted(events, key=lambda e: -e.self_cpu_time_total)[:TOP]
    top_ops = tuple(
        {"op": e.key, "type": e.key, "self_time_us": float(e.self_cpu_time_total),
         "pct": 100.0 * e.self_cpu_time_total / busy}
        for e in ranked
    )  # fmt: skip
    return ProfileResult(profile_path=str(path), profile_peak_bytes=None, top_alloc_ops=(),
                         top_ops=top_ops, capture_s=time.perf_counter() - started)  # fmt: skip


BACKEND = TorchBackend()
