"""The model under test: input -> block -> global average pooling (if needed) -> Dense.

Fixed, so anyone can rebuild exactly what a cell measured:
``keras.Input(input_shape) -> block -> GlobalAveragePooling1D/2D when the block's
output still has time or spatial axes -> Dense(num_classes)`` (logits). The reference
workload's cells (`bench.spec.reference`) are built by `bench.measure.reference_model`.

>>> from bench.spec.cell import Cell
>>> model = build_model(Cell("dense", (("units", 8),), (4,), 2, "train"))  # doctest: +SKIP
"""

from __future__ import annotations

import keras

import blocks
from bench.measure import reference_model
from bench.spec.cell import Cell
from bench.spec.reference import is_reference

NUM_CLASSES = 10


def head_params(features: int, num_classes: int = NUM_CLASSES) -> int:
    """Parameters of the Dense head on ``features`` pooled features.

    >>> head_params(32)
    330
    """
    return (features + 1) * num_classes


def head_flops(output_shape: tuple[int, ...], num_classes: int = NUM_CLASSES) -> int:
    """Forward FLOPs per sample of pooling (one add per element) plus the Dense head.

    >>> head_flops((4, 4, 8))
    298
    """
    pooled = output_shape[-1]
    pool = 0
    if len(output_shape) > 1:
        elements = 1
        for size in output_shape:
            elements *= size
        pool = elements  # one add per element (the divide is per feature, negligible)
    return pool + 2 * pooled * num_classes + num_classes


def build_model(
    cell: Cell,
    *,
    num_classes: int = NUM_CLASSES,
    input_shape: tuple[int, ...] | None = None,
    fixed_batch: bool = False,
) -> keras.Model:
    """Build the model under test for a cell (fresh weights every call).

    ``fixed_batch`` pins the batch dimension (timing cells: no partial batch, no
    recompiles under XLA).
    """
    batch = cell.batch_size if fixed_batch else None
    if is_reference(cell):  # the fixed workload, built apart from blocks/
        return reference_model.build(batch_size=batch, num_classes=num_classes)
    shape = tuple(input_shape or cell.input_shape)
    inputs = keras.Input(shape=shape, batch_size=batch, name="inputs")
    block = blocks.build(cell.block, **cell.knob_dict)
    x = block(inputs)
    rank = len(x.shape) - 1
    if rank == 3:
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    elif rank == 2:
        x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    elif rank != 1:
        raise ValueError(f"block {cell.block!r} gives rank-{rank} output; expected 1 to 3")
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=f"bench_{cell.block}")


def make_optimizer(learning_rate: float = 1e-3) -> keras.optimizers.Optimizer:
    """The optimizer every cell trains with: Adam (timing cells use 1e-3)."""
    return keras.optimizers.Adam(learning_rate=learning_rate)


def make_loss() -> keras.losses.Loss:
    """The loss every cell trains with: sparse categorical cross-entropy from logits."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def model_costs(cell: Cell, *, num_classes: int = NUM_CLASSES) -> tuple[int, int, int]:
    """(params total, params trainable, forward FLOPs per sample) of the model under test,
    from the closed forms in ``blocks.cost`` plus the head."""
    if is_reference(cell):
        return reference_model.model_costs(num_classes)
    knobs = cell.knob_dict
    shape = tuple(cell.input_shape)
    block_params = blocks.cost.params(cell.block, shape, **knobs)
    out_shape = tuple(blocks.output_shape(cell.block, shape, **knobs))
    head = head_params(out_shape[-1], num_classes)
    flops = _total_flops(blocks.cost.flops(cell.block, shape, **knobs))
    return (
        block_params.total + head,
        block_params.trainable + head,
        flops + head_flops(out_shape, num_classes),
    )


def _total_flops(value: object) -> int:
    return int(getattr(value, "total", value))
