"""Closed-form costs of a block: parameters, forward FLOPs and kept activations, per sample.

Every function takes the block name, the input shape without the batch axis, and the knobs,
and validates them first (``ValueError`` before anything is built). FLOP conventions are in
`blocks.counts`: a multiply-add is 2 FLOPs; ``matmul`` counts matmuls and convolutions
(checked against XLA's HLO within 2% by the tests), ``elementwise`` estimates activations,
normalisation, pooling, softmax, dropout and recurrent gate arithmetic.
"""

from __future__ import annotations

from blocks.counts import FlopCount, ParamCount
from blocks.registry import resolve_known
from blocks.spec import Shape

__all__ = ["FlopCount", "ParamCount", "activations", "flops", "params"]


def params(name: str, input_shape: Shape, **knobs: object) -> ParamCount:
    """Parameter counts; equal to Keras ``count_params()`` and its trainable split.

    >>> params("dense", (10,), units=32).total  # 10*32 + 32 + 4*32 (BatchNormalization)
    480
    >>> params("dense", (10,), units=32).non_trainable
    64
    """
    spec, resolved, shape = resolve_known(name, input_shape, knobs)
    return spec.params(shape, resolved)


def flops(name: str, input_shape: Shape, **knobs: object) -> FlopCount:
    """Forward FLOPs per sample: ``.matmul`` (matmuls, convs), ``.elementwise``, ``.total``.

    >>> flops("dense", (10,), units=32, batch_norm=False).matmul  # 2 * 10 * 32
    640
    """
    spec, resolved, shape = resolve_known(name, input_shape, knobs)
    return spec.flops(shape, resolved)


def activations(name: str, input_shape: Shape, **knobs: object) -> int:
    """Float elements per sample of the intermediate outputs a backward pass keeps.

    The sum of every sublayer's output size; recurrent layers add their per-timestep gates
    and states (an approximation, see `blocks.recurrent`).

    >>> activations("dense", (10,), units=32)  # Dense output + BatchNormalization output
    64
    """
    spec, resolved, shape = resolve_known(name, input_shape, knobs)
    return int(spec.activations(shape, resolved))
