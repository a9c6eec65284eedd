"""One adapter per Keras backend: how a worker of that backend builds a cell's step
program, synchronises it, reads memory peaks, profiles, and runs the probe and canary.

`load` imports only the named backend's adapter, so a JAX worker never imports
TensorFlow. What ``xla`` means on each backend is `bench.spec.backends`.

>>> sorted(ADAPTERS)
['jax', 'tensorflow', 'torch']
"""

from __future__ import annotations

import importlib

from bench.measure.backends.base import Backend

ADAPTERS = {
    "tensorflow": "bench.measure.backends.tf_backend",
    "jax": "bench.measure.backends.jax_backend",
    "torch": "bench.measure.backends.torch_backend",
}


def load(name: str) -> Backend:
    """The adapter of backend ``name`` (imports that framework, and only that one)."""
    if name not in ADAPTERS:
        raise ValueError(f"unknown backend {name!r}; expected one of {sorted(ADAPTERS)}")
    return importlib.import_module(ADAPTERS[name]).BACKEND


__all__ = ["ADAPTERS", "Backend", "load"]
