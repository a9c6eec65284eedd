"""The JAX backend's tests run where jax is installed (``tox -e jax``, which has no
TensorFlow); elsewhere they are skipped, so ``tox -e py`` needs no jax."""

import os

import pytest

jax = pytest.importorskip("jax", reason="jax is not installed (tox -e jax runs these)")
os.environ.setdefault("KERAS_BACKEND", "jax")
