"""The registry: a plain dict from block name to its `BlockSpec`, and the functions over it.

Registering a new block is adding its spec to `BLOCKS`; tests and the CLI walk this dict.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from blocks import conv, dense, recurrent, residual, transformer
from blocks.spec import BlockSpec, Shape

BLOCKS: dict[str, BlockSpec] = {
    spec.name: spec
    for spec in (conv.SPEC, recurrent.SPEC, dense.SPEC, residual.SPEC, transformer.SPEC)
}


def list_blocks(pattern: str = "*") -> list[str]:
    """Sorted names of the registered blocks matching a shell-style ``pattern``.

    >>> list_blocks("re*")
    ['recurrent', 'residual']
    """
    return sorted(name for name in BLOCKS if fnmatch.fnmatchcase(name, pattern))


def get_spec(name: str) -> BlockSpec:
    """The spec registered as ``name``; ``ValueError`` listing the known names otherwise.

    >>> get_spec("conv").input_rank
    3
    """
    try:
        return BLOCKS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown block {name!r}; known blocks: {', '.join(list_blocks())}"
        ) from None


def validate(name: str, input_shape: Shape | None = None, **knobs: object) -> dict[str, object]:
    """Check a block's knobs (and input shape, batch axis excluded) before any weights exist.

    Raises ``ValueError`` naming the problem; returns every knob resolved to its value.

    >>> validate("conv", (28, 28, 1), filters=32)["depth"]
    1
    >>> validate("conv", (28, 28), filters=32)
    Traceback (most recent call last):
    ...
    ValueError: block 'conv' expects an input of rank 3 (height, width, channels) without the batch axis; got input_shape (28, 28) of rank 2
    """  # noqa: E501
    return get_spec(name).resolve(knobs, input_shape)


def build(name: str, **knobs: object) -> Any:
    """A NEW Keras layer for block ``name``, with fresh weights on every call.

    Calling the returned layer on two inputs shares its weights; nothing else does.

    >>> layer = build("conv", filters=32)
    >>> layer is not build("conv", filters=32)
    True
    """
    return get_spec(name)(**knobs)


def output_shape(name: str, input_shape: Shape, **knobs: object) -> Shape:
    """Output shape (no batch axis) of block ``name`` on ``input_shape``, in closed form.

    >>> output_shape("conv", (28, 28, 1), filters=32, depth=2)
    (7, 7, 32)
    """
    spec = get_spec(name)
    resolved = spec.resolve(knobs, input_shape)
    return tuple(spec.output_shape(spec.check_input_shape(input_shape), resolved))


def resolve_known(name: str, input_shape: Shape, knobs: dict[str, object]):
    """(spec, resolved knobs, input shape) for a cost function; every dimension must be known.

    >>> resolve_known("dense", (10,), {"units": 4})[2]
    (10,)
    """
    spec = get_spec(name)
    if input_shape is None:
        raise ValueError(f"block {name!r}: a cost needs input_shape (without the batch axis)")
    resolved = spec.resolve(knobs, input_shape)
    shape = spec.check_input_shape(input_shape)
    if None in shape:
        raise ValueError(f"block {name!r}: a cost needs every input dimension known, got {shape}")
    return spec, resolved, shape
