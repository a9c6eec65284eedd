"""blockbench blocks: a registry of Keras blocks with validated knobs and closed-form costs.

``blocks`` knows nothing about benchmarking.

>>> import blocks
>>> layer = blocks.build("conv", filters=32, depth=2)      # new weights every call
>>> blocks.output_shape("conv", (28, 28, 1), filters=32, depth=2)
(7, 7, 32)
>>> blocks.cost.params("conv", (28, 28, 1), filters=32).total
448
>>> blocks.list_blocks()
['conv', 'dense', 'recurrent', 'residual', 'transformer']
"""

from blocks import compose, cost, memory, seed
from blocks.registry import BLOCKS, build, list_blocks, output_shape, validate
from blocks.spec import REQUIRED, BlockSpec

__all__ = [
    "BLOCKS",
    "REQUIRED",
    "BlockSpec",
    "build",
    "compose",
    "cost",
    "list_blocks",
    "memory",
    "output_shape",
    "seed",
    "validate",
]
