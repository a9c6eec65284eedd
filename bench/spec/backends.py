"""Keras backends a cell can run on, and what the ``xla`` axis means on each.

Every worker process runs one backend, chosen through ``KERAS_BACKEND`` before Keras is
imported. The ``xla`` axis is each backend's compilation switch, always passed
explicitly (Keras' own ``jit_compile="auto"`` differs per backend):

=============  ==========================================  ===========================
backend        ``xla = false``                             ``xla = true``
=============  ==========================================  ===========================
tensorflow     graph mode (``tf.function``)                XLA (``jit_compile=True``)
jax            not timed: op-by-op dispatch from Python    ``jax.jit``
torch          eager                                       ``torch.compile``
=============  ==========================================  ===========================

>>> compile_mode("jax", True), compile_mode("torch", False)
('jax.jit', 'eager')
>>> not_timed("jax", False)[:22]
'op-by-op JAX is not ti'
"""

from __future__ import annotations

import importlib.util

BACKENDS = ("tensorflow", "jax", "torch")
DEFAULT_BACKEND = "tensorflow"
# What the xla axis means per backend: (xla = false, xla = true).
COMPILE_MODES = {
    "tensorflow": ("graph", "XLA"),
    "jax": ("op-by-op", "jax.jit"),
    "torch": ("eager", "torch.compile"),
}
# The same, as short words in cell labels (TensorFlow cells say "xla" or nothing).
LABEL_MODES = {"tensorflow": ("", "xla"), "jax": ("op-by-op", "jit"), "torch": ("eager", "compile")}
# The importable module that proves a backend is installed, and the extra that installs it.
_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
EXTRAS = {"tensorflow": "cpu", "jax": "jax", "torch": "torch"}


def compile_mode(backend: str, xla: bool) -> str:
    """The name of what a cell's ``xla`` setting means on its backend."""
    return COMPILE_MODES[backend][int(bool(xla))]


def not_timed(backend: str, xla: bool) -> str | None:
    """Why a (backend, xla) pair is never timed, or ``None`` when it is."""
    if backend == "jax" and not xla:
        return (
            "op-by-op JAX is not timed: without jax.jit every Keras op is dispatched from "
            "Python one by one (Keras' run_eagerly debugging mode), so the step time would "
            "measure dispatch, not the block; jax cells are timed with xla = true (jax.jit)"
        )
    return None


def installed(backend: str) -> bool:
    """Whether the backend's framework can be imported here (without importing it).

    >>> installed("no-such-backend")
    False
    """
    module = _MODULES.get(backend)
    return module is not None and importlib.util.find_spec(module) is not None


def missing_reason(backend: str) -> str:
    """The skip reason of a cell whose backend is not installed."""
    return f"{backend} is not installed (pip install -e '.[{EXTRAS[backend]}]')"


def default_backend() -> str:
    """The backend the orchestrating process imports Keras with when ``KERAS_BACKEND`` is
    unset: TensorFlow if installed, else the first installed one (a jax-only install)."""
    for backend in BACKENDS:
        if installed(backend):
            return backend
    return DEFAULT_BACKEND
