"""Fidelity on the JAX (or PyTorch) backend: does blockbench's step time match a
hand-written training loop in the same process?

For the seed's dense model and a conv block (batch 64, train), interleaved (A B A B ...)
so drift hits both alike:
  A. blockbench's path: the backend adapter's step program (`bench.measure.backends`)
     timed by ``measure_round``;
  B. the loop a careful person writes by hand. JAX: a jitted train step written directly
     with ``jax.value_and_grad`` through ``model.stateless_call`` and
     ``optimizer.stateless_apply`` on one batch, dispatched K times, then
     ``jax.block_until_ready`` on the weights. torch: ``zero_grad``, ``backward``, Keras'
     optimizer, K times, then ``torch.cuda.synchronize()`` on a GPU and ``.item()``.
It prints the medians and the ratio A/B; the target is |ratio - 1| <= 10%.

Run: KERAS_BACKEND=jax python benchmarks/fidelity_backends.py [--device gpu]
(a few minutes on 2 cores; run it alone).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
from tabulate import tabulate

BATCH = 64
ROUNDS = 5


def jax_reference(model, x: np.ndarray, y: np.ndarray, device: str) -> Callable[[int], None]:
    import jax

    from bench.measure.backends.jax_backend import device_of
    from bench.measure.model import make_loss, make_optimizer

    target = device_of(device)
    optimizer = make_optimizer()
    optimizer.build(model.trainable_variables)
    loss_fn = make_loss()
    xb, yb = jax.device_put(x[0], target), jax.device_put(y[0], target)
    state = {"weights": ([v.value for v in model.trainable_variables],
                         [v.value for v in model.non_trainable_variables],
                         [v.value for v in optimizer.variables])}  # fmt: skip

    @jax.jit
    def train_step(weights):
        trainable, frozen, slots = weights

        def loss_of(trainable, frozen):
            logits, frozen = model.stateless_call(trainable, frozen, xb, training=True)
            return loss_fn(yb, logits), frozen

        (_, frozen), grads = jax.value_and_grad(loss_of, has_aux=True)(trainable, frozen)
        trainable, slots = optimizer.stateless_apply(slots, grads, trainable)
        return trainable, frozen, slots

    def run(steps: int) -> None:
        weights = state["weights"]
        for _ in range(steps):
            weights = train_step(weights)
        state["weights"] = jax.block_until_ready(weights)

    return run


def torch_reference(model, x: np.ndarray, y: np.ndarray, device: str) -> Callable[[int], None]:
    import torch

    from bench.measure.model import make_loss, make_optimizer

    target = torch.device("cuda:0" if device == "gpu" else "cpu")
    optimizer = make_optimizer()
    optimizer.build(model.trainable_variables)
    loss_fn = make_loss()
    xb = torch.as_tensor(x[0], device=target)
    yb = torch.as_tensor(y[0], device=target, dtype=torch.long)

    def run(steps: int) -> None:
        loss = None
        for _ in range(steps):
            model.zero_grad()
            loss = loss_fn(yb, model(xb, training=True))
            loss.backward()
            grads = [v.value.grad for v in model.trainable_variables]
            with torch.no_grad():
                optimizer.apply(grads, model.trainable_variables)
        if device == "gpu":
            torch.cuda.synchronize()
        loss.item()

    return run


def measure(
    name: str, make_model, input_shape, num_classes: int, backend_name: str, device: str
) -> dict:
    from bench.measure.backends import load
    from bench.measure.rounds import measure_round
    from bench.spec.cell import Cell
    from bench.spec.config import RunSettings

    backend = load(backend_name)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, BATCH, *input_shape)).astype(np.float32)
    y = rng.integers(0, num_classes, size=(2, BATCH)).astype(np.int32)
    settings = RunSettings(repeats=7, warmup=1, min_sample_s=0.2)
    cell = Cell(
        "dense",
        (("units", 1),),
        tuple(input_shape),
        BATCH,
        "train",
        device=device,
        xla=True,
        backend=backend_name,
    )  # fmt: skip  (only pass, device, xla are read)
    with backend.scope(cell, settings):
        program, _ = backend.program(cell, make_model(), x, y)
        reference = {"jax": jax_reference, "torch": torch_reference}[backend_name](
            make_model(), x, y, device
        )
        first = measure_round(program, settings)  # compiles and calibrates K
        steps = first.steps_per_sample
        reference(steps)  # compile the reference
        ours, ref = [], []
        for _ in range(ROUNDS):
            timing = measure_round(program, settings, steps=steps)
            ours.append(statistics.median(timing.samples_s))
            samples = []
            for _ in range(settings.repeats):
                start = time.perf_counter()
                reference(steps)
                samples.append((time.perf_counter() - start) / steps)
            ref.append(statistics.median(samples))
    a, b = statistics.median(ours), statistics.median(ref)
    return {
        "model": name,
        "backend": backend_name,
        "device": device,
        "K": steps,
        "blockbench step": f"{a * 1e3:.3f} ms",
        "hand-written step": f"{b * 1e3:.3f} ms",
        "ratio": f"{a / b:.3f}",
        "within 10%": "yes" if abs(a / b - 1) <= 0.10 else "NO",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    args = parser.parse_args()
    backend_name = os.environ.setdefault("KERAS_BACKEND", "jax")
    from bench.measure.model import build_model
    from bench.spec.cell import Cell
    from blocks import seed

    conv = Cell("conv", (("filters", 32),), (28, 28, 1), BATCH, "train")
    rows = [
        measure("seed dense example", seed.dense_example, (10,), 1, backend_name, args.device),
        measure(
            "conv filters=32 28x28x1",
            lambda: build_model(conv, fixed_batch=True),
            conv.input_shape,
            10,
            backend_name,
            args.device,
        ),
    ]
    print(tabulate(rows, headers="keys", tablefmt="github"), flush=True)


if __name__ == "__main__":
    main()
