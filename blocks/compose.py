"""Functional-API compositions of built blocks: parallel branches and sequential stacks.

A branch (or a stack element) is anything callable on a tensor: a built block, a Keras
layer, or a list of them applied in order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras

Branch = Callable[[Any], Any] | Sequence[Callable[[Any], Any]]

MERGES = {
    "concat": keras.layers.Concatenate,
    "average": keras.layers.Average,
    "add": keras.layers.Add,
}


def sequential(inputs: Any, layers: Sequence[Callable[[Any], Any]]) -> Any:
    """Apply ``layers`` one after another to ``inputs``.

    >>> from blocks import build
    >>> x = keras.Input(shape=(100, 5))
    >>> y = sequential(x, [build("recurrent", units=32), build("recurrent", units=16)])
    >>> tuple(y.shape)
    (None, 100, 16)
    """
    x = inputs
    for layer in layers:
        x = layer(x)
    return x


def parallel(inputs: Any, branches: Sequence[Branch], *, merge: str = "concat") -> Any:
    """Apply every branch to ``inputs`` and merge the outputs by ``concat``, ``average`` or ``add``.

    A branch that is a list is applied as a `sequential` stack. ``concat`` joins the last
    axis; ``average`` and ``add`` need equal shapes.

    >>> from blocks import build
    >>> x = keras.Input(shape=(28, 28, 1))
    >>> y = parallel(x, [build("conv", filters=32), build("conv", filters=64)], merge="concat")
    >>> tuple(y.shape)
    (None, 14, 14, 96)
    """
    if merge not in MERGES:
        raise ValueError(f"unknown merge {merge!r}; valid merges: {', '.join(MERGES)}")
    if not branches:
        raise ValueError("parallel needs at least one branch")
    outputs = [
        sequential(inputs, branch) if isinstance(branch, (list, tuple)) else branch(inputs)
        for branch in branches
    ]
    if len(outputs) == 1:
        return outputs[0]
    if merge != "concat":
        shapes = {tuple(output.shape[1:]) for output in outputs}
        if len(shapes) > 1:
            raise ValueError(
                f"merge {merge!r} needs branches of equal shape, got {sorted(map(str, shapes))}"
            )
    return MERGES[merge]()(outputs)
