"""The JAX backend: Keras' stateless API under ``jax.jit``, synchronised with
``block_until_ready``-equivalent host fetches. Imports no TensorFlow.

**The step.** A train step is ``jax.value_and_grad`` of the loss through
``model.stateless_call`` followed by ``optimizer.stateless_apply`` (Adam 1e-3, sparse
categorical cross-entropy from logits, as on TensorFlow), jitted whole; weights,
non-trainable state (batch-norm statistics, dropout seeds) and optimizer slots are
carried from step to step. A forward step runs ``stateless_call(training=False)`` and
adds the outputs' sum to an accumulator, so no step can be skipped and each depends on
the one before. Both read one of two batches, chosen by the step's index.

**The K-step loop.** On a GPU the K steps run in one device-side loop
(``lax.fori_loop`` inside ``jax.jit``), so dispatch is paid once per sample. On CPU the
jitted step is dispatched K times from Python (JAX dispatch is asynchronous, so
dispatch overlaps compute) and the host fetches the accumulator once at the end: on this
2-core machine's XLA:CPU the ``fori_loop`` made a residual block's train step 13x slower
(32.8 ms against 2.6 ms per step), the same loop-codegen effect that made TensorFlow
compile only the step (`bench.measure.timing`). The price on CPU is Python dispatch for
tiny steps (a dense units=128 b32 train step: 90 us in ``fori_loop``, 254 us
dispatched), which `benchmarks/fidelity.py` measures against a hand-written loop.

**xla = false** (op-by-op) is never timed: see `bench.spec.backends.not_timed`.

Memory: ``Device.memory_stats()`` where the device keeps them (GPU); JAX's CPU client
keeps none, so CPU cells report the RSS peak and say why the allocator peak is missing.
Profiles: ``jax.profiler`` writes the same xplane files TensorBoard's profile plugin
reads (`bench.measure.profiling`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import keras
import numpy as np

from bench.measure.backends.base import Backend
from bench.measure.memory import Peak, PeakReader, RssPeak
from bench.measure.model import make_loss, make_optimizer
from bench.measure.profiling import Profiler, capture
from bench.measure.reference import measure_peak, time_canary
from bench.measure.rounds import StepProgram
from bench.results.records import ProfileResult
from bench.spec.cell import Cell

CANARY_SIZE, CANARY_STEPS, CANARY_SAMPLES = 512, 50, 5
PROBE_SIZES = {"cpu": 1024, "gpu": 8192}


def device_of(kind: str) -> jax.Device:
    """The first JAX device of ``kind`` ("cpu" or "gpu")."""
    return jax.devices(kind)[0]


class JaxBackend(Backend):
    name = "jax"

    def gpu_visible(self) -> bool:
        try:
            return bool(jax.devices("gpu"))
        except RuntimeError:  # no GPU platform in this jaxlib
            return False

    def program(
        self, cell: Cell, model: keras.Model, x: np.ndarray, y: np.ndarray
    ) -> tuple[StepProgram, str]:
        return make_program(model, x, y, pass_=cell.pass_, device=cell.device), ""

    def compile_difference(self, model: keras.Model, x: np.ndarray) -> float:
        trainable = [v.value for v in model.trainable_variables]
        frozen = [v.value for v in model.non_trainable_variables]

        def forward(trainable, frozen, inputs):
            return model.stateless_call(trainable, frozen, inputs, training=False)[0]

        compiled = np.asarray(jax.jit(forward)(trainable, frozen, x[0]))
        with jax.disable_jit():
            plain = np.asarray(forward(trainable, frozen, x[0]))
        return float(np.max(np.abs(plain.astype(np.float64) - compiled)))

    def peak_reader(self, device: str) -> PeakReader:
        return JaxPeak(device)

    def profile(
        self, step: Any, *, logdir: Path, run_name: str, steps: int, step_name: str
    ) -> ProfileResult:
        profiler = Profiler(
            session=jax.profiler.trace,
            marker=lambda name, index: jax.profiler.StepTraceAnnotation(name, step_num=index),
            reset_peaks=lambda: None,  # JAX cannot reset its allocator peak
        )
        return capture(step, logdir=logdir, run_name=run_name, steps=steps,
                       step_name=step_name, profiler=profiler)  # fmt: skip

    def canary(self) -> dict[str, Any]:
        label = f"jax matmul {CANARY_SIZE}x{CANARY_SIZE} float32, {CANARY_STEPS} per sample"
        return time_canary(matmul_chain(CANARY_SIZE, device_of("cpu")), steps=CANARY_STEPS,
                           samples=CANARY_SAMPLES, label=label)  # fmt: skip

    def peak_flops(self, device: str) -> dict[str, Any]:
        if device == "gpu" and not self.gpu_visible():
            return {"peak_flops": None, "reason": "no GPU visible"}
        size = PROBE_SIZES[device]
        method = f"chained {size}x{size} float32 matmuls, jax.jit, dispatched from Python"
        return measure_peak(matmul_chain(size, device_of(device)), size=size, method=method)


def make_program(
    model: keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    *,
    pass_: str,
    device: str = "cpu",
    device_loop: bool | None = None,
) -> StepProgram:
    """The K-step program of a forward or train pass (see the module's notes).

    ``device_loop`` picks ``lax.fori_loop`` (default: on GPU only).
    """
    target = device_of(device)
    xs, ys = jax.device_put(x, target), jax.device_put(y, target)
    trainable = [v.value for v in model.trainable_variables]
    frozen = [v.value for v in model.non_trainable_variables]
    zero = jax.device_put(jnp.float32(0.0), target)
    if pass_ == "train":
        optimizer = make_optimizer()
        optimizer.build(model.trainable_variables)
        slots = [v.value for v in optimizer.variables]
        loss_fn = make_loss()

        def step(carry, xs, ys, index):
            trainable, frozen, slots, total = carry
            xb, yb = xs[index % 2], ys[index % 2]

            def loss_of(trainable, frozen):
                logits, frozen = model.stateless_call(trainable, frozen, xb, training=True)
                return loss_fn(yb, logits), frozen

            (loss, frozen), grads = jax.value_and_grad(loss_of, has_aux=True)(trainable, frozen)
            trainable, slots = optimizer.stateless_apply(slots, grads, trainable)
            return trainable, frozen, slots, total + loss.astype(jnp.float32)

        carry = (trainable, frozen, slots, zero)
        weights: tuple = ()
    elif pass_ == "forward":

        def step(carry, xs, ys, index, trainable, frozen):
            outputs, _ = model.stateless_call(trainable, frozen, xs[index % 2], training=False)
            return carry + jnp.sum(outputs.astype(jnp.float32))

        carry, weights = zero, (trainable, frozen)
    else:
        raise ValueError(f"pass must be 'forward' or 'train', got {pass_!r}")
    donate = (0,) if device == "gpu" else ()  # CPU buffers cannot be donated
    one = jax.jit(step, donate_argnums=donate)
    indices = [jax.device_put(jnp.int32(i), target) for i in (0, 1)]
    state = {"carry": carry}

    def total(carry: Any) -> float:
        return float(carry[-1] if isinstance(carry, tuple) else carry)  # host fetch: synced

    def single(index: int) -> float:
        state["carry"] = one(state["carry"], xs, ys, indices[index % 2], *weights)
        return total(state["carry"])

    if device_loop if device_loop is not None else device == "gpu":

        def many(carry, xs, ys, count, *weights):
            body = lambda i, c: step(c, xs, ys, i, *weights)  # noqa: E731
            return jax.lax.fori_loop(0, count, body, carry)

        looped = jax.jit(many, donate_argnums=donate)

        def run(count: int) -> float:
            state["carry"] = looped(state["carry"], xs, ys, jnp.int32(count), *weights)
            return total(state["carry"])

    else:

        def run(count: int) -> float:
            carry = state["carry"]
            for index in range(count):  # asynchronous dispatch; one fetch at the end
                carry = one(carry, xs, ys, indices[index % 2], *weights)
            state["carry"] = carry
            return total(carry)

    return StepProgram(run=run, step=single)


def matmul_chain(size: int, device: jax.Device) -> Callable[[int], float]:
    """``run(k)``: ``k`` chained float32 ``size``² matmuls (jitted, dispatched from
    Python), fetched to the host. The probe's and the canary's workload on JAX."""
    key_a, key_b = jax.random.split(jax.random.PRNGKey(1))
    a = jax.device_put(jax.random.normal(key_a, (size, size)) / size**0.5, device)
    b = jax.device_put(jax.random.normal(key_b, (size, size)) / size**0.5, device)
    multiply = jax.jit(jnp.matmul)

    def run(count: int) -> float:
        x = a
        for _ in range(count):
            x = multiply(x, b)
        return float(jnp.sum(x))

    return run


class JaxPeak(PeakReader):
    """RSS peak always; the device allocator's peak where the device keeps stats. JAX
    cannot reset ``peak_bytes_in_use``, so a phase that did not raise it has no peak
    of its own to report (an earlier cell in the worker went higher)."""

    def __init__(self, device: str) -> None:
        self.device = device_of(device)
        self._before: dict[str, int] | None = None
        self._rss: RssPeak | None = None

    def start(self) -> None:
        self._before = self.device.memory_stats()
        self._rss = RssPeak()

    def stop(self) -> Peak:
        if self._rss is None:
            raise RuntimeError("JaxPeak.stop() called before start()")
        rss = self._rss.stop()
        after = self.device.memory_stats()
        if not after or "peak_bytes_in_use" not in after:
            why = (f"unavailable: JAX's {self.device.platform} client keeps no allocator "
                   "statistics (Device.memory_stats() is empty); see the RSS peak")  # fmt: skip
            return Peak(None, why, rss)
        before = self._before or {}
        if after["peak_bytes_in_use"] <= before.get("peak_bytes_in_use", 0):
            why = ("unavailable: an earlier cell in this worker set a higher peak, and JAX "
                   "cannot reset peak_bytes_in_use")  # fmt: skip
            return Peak(None, why, rss)
        name = f"{self.device.platform}:{self.device.id} JAX allocator (peak_bytes_in_use)"
        return Peak(int(after["peak_bytes_in_use"]), name, rss, before.get("bytes_in_use", 0))


BACKEND = JaxBackend()
