"""`BlockLayer`: the part every block layer shares, written once.

A block layer's ``__init__`` names its knobs (so signatures and docs show them) and hands
them to ``BlockLayer.__init__``, which validates them against the block's `BlockSpec` and
keeps them read-only in ``self.knobs``. The base then provides what used to be repeated
five times:

- ``build``: checks the input shape against the spec, then builds the sublayers
  (``build_layers``; by default the sequential ``self.stack``, each on the previous
  output shape);
- ``call``: by default runs ``self.stack`` in order;
- ``compute_output_shape``: from the spec's closed form, so Keras and `blocks.cost` agree
  by construction;
- ``get_config``: every knob (tuples as lists), so ``from_config(get_config())``
  round-trips.

A subclass sets ``spec`` (its `BlockSpec`) once the spec exists, and overrides
``build_layers`` and ``call`` only when its sublayers are not a plain stack (residual
shortcuts, attention).

>>> from blocks.dense import DenseBlock
>>> layer = DenseBlock(units=[8, 4])
>>> layer.compute_output_shape((None, 3)), layer.get_config()["units"]
((None, 4), [8, 4])
"""

from __future__ import annotations

from typing import Any, ClassVar

import keras

from blocks.spec import BlockSpec, Shape, layer_knobs


class BlockLayer(keras.layers.Layer):
    """Base of the registered block layers; see the module docstring.

    >>> from blocks.conv import ConvBlock
    >>> ConvBlock(filters=4, kernel_size=(1, 3)).get_config()["kernel_size"]
    [1, 3]
    """

    spec: ClassVar[BlockSpec]

    def __init__(self, knobs: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.knobs = layer_knobs(self.spec, **knobs)
        self.stack: list[keras.layers.Layer] = []

    def build(self, input_shape: Shape) -> None:
        self.spec.check_shape(self.spec.check_input_shape(input_shape[1:]), self.knobs)
        self.build_layers(tuple(input_shape))

    def build_layers(self, input_shape: Shape) -> None:
        """Build the sublayers for ``input_shape`` (batch axis included)."""
        shape = input_shape
        for layer in self.stack:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        x = inputs
        for layer in self.stack:
            x = layer(x)  # Keras hands `training` down through its call context
        return x

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], *self.spec.output_shape(tuple(input_shape[1:]), self.knobs))

    def get_config(self) -> dict[str, Any]:
        base_config = super().get_config()
        config = {name: _json_ready(self.knobs[name]) for name in self.spec.defaults}
        return {**base_config, **config}


def _json_ready(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
