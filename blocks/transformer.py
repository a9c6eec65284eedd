"""The `transformer` block: post-LN Transformer encoder layers, `depth` of them stacked.

One layer: ``x = LayerNorm(x + Dropout(MHA(x, x)))``, then
``x = LayerNorm(x + Dropout(FFN(x)))`` with ``FFN = Dense(ff_units, relu) -> Dense(units)``.
``MultiHeadAttention`` has ``heads`` heads of ``units // heads`` features each (``heads``
must divide ``units``); ``ff_units=None`` means ``4 * units``; ``dropout=0`` leaves the
Dropout layers out. Input is ``(time, features)``; when ``features != units`` an input
projection ``Dense(units)`` (linear, with bias) comes first, and is counted in every cost.

Cost model per layer, ``T`` tokens, ``u`` units, ``H`` heads, ``f`` ff_units:

- matmuls: Q, K, V and output projections ``4 * 2*T*u*u``; scores ``QK^T`` ``2*T*T*u``;
  ``softmax(scores) V`` ``2*T*T*u``; FFN ``2 * 2*T*u*f``;
- elementwise: ``22*T*u`` (4 projection biases, query scaling, 2 residual adds, FFN output
  bias, 2 LayerNorms of 7), ``2*T*f`` (FFN bias and relu), ``5*H*T*T`` (softmax), plus
  ``2*T*u`` for the Dropout layers when they exist;
- kept activations: Q, K, V, context, attention output, add, norm, FFN output, add, norm
  (``10*T*u``), scores and probabilities (``2*H*T*T``), the FFN hidden layer (``T*f``),
  and ``2*T*u`` for Dropout outputs when they exist.
"""

from __future__ import annotations

import keras

from blocks.base import BlockLayer
from blocks.counts import (
    ACTIVATION_FLOPS,
    ADD_FLOPS,
    BIAS_FLOPS,
    DROPOUT_FLOPS,
    LAYER_NORM_FLOPS,
    SOFTMAX_FLOPS,
    FlopCount,
    ParamCount,
)
from blocks.spec import (
    REQUIRED,
    BlockSpec,
    Knobs,
    Shape,
    check_positive_int,
    check_rate,
)

NAME = "transformer"
DEFAULTS = {"units": REQUIRED, "heads": 4, "ff_units": None, "depth": 1, "dropout": 0.0}


def ff_width(knobs: Knobs) -> int:
    """Width of the feed-forward hidden layer.

    >>> ff_width({"units": 8, "ff_units": None}), ff_width({"units": 8, "ff_units": 5})
    (32, 5)
    """
    return 4 * knobs["units"] if knobs["ff_units"] is None else knobs["ff_units"]


def _check(knobs: Knobs, given: frozenset[str]) -> None:
    check_positive_int(NAME, "units", knobs["units"])
    check_positive_int(NAME, "heads", knobs["heads"])
    check_positive_int(NAME, "depth", knobs["depth"])
    if knobs["ff_units"] is not None:
        check_positive_int(NAME, "ff_units", knobs["ff_units"])
    check_rate(NAME, "dropout", knobs["dropout"])
    if knobs["units"] % knobs["heads"]:
        raise ValueError(
            f"block {NAME!r}: heads={knobs['heads']} does not divide units={knobs['units']} "
            "(each head gets units // heads features)"
        )


def _output_shape(shape: Shape, knobs: Knobs) -> Shape:
    return (shape[0], knobs["units"])


def _params(shape: Shape, knobs: Knobs) -> ParamCount:
    units, ff = knobs["units"], ff_width(knobs)
    attention = 4 * (units * units + units)  # Q, K, V, output: kernel + bias each
    norms = 2 * 2 * units  # two LayerNorms, gamma + beta
    ffn = units * ff + ff + ff * units + units
    projection = shape[1] * units + units if shape[1] != units else 0
    return ParamCount(projection + knobs["depth"] * (attention + norms + ffn))


def _flops(shape: Shape, knobs: Knobs) -> FlopCount:
    time, features = shape
    units, heads, ff = knobs["units"], knobs["heads"], ff_width(knobs)
    matmul = 4 * 2 * time * units * units + 2 * 2 * time * time * units + 2 * 2 * time * units * ff
    per_token_unit = (
        5 * BIAS_FLOPS + 1 + 2 * ADD_FLOPS + 2 * LAYER_NORM_FLOPS  # 1: query scaling
    )
    elementwise = (
        per_token_unit * time * units
        + (BIAS_FLOPS + ACTIVATION_FLOPS) * time * ff
        + SOFTMAX_FLOPS * heads * time * time
    )
    if knobs["dropout"] > 0:
        elementwise += 2 * DROPOUT_FLOPS * time * units
    total = FlopCount(matmul, elementwise) * knobs["depth"]
    if features != units:
        total += FlopCount(2 * time * features * units, BIAS_FLOPS * time * units)
    return total


def _activations(shape: Shape, knobs: Knobs) -> int:
    time, features = shape
    units, heads, ff = knobs["units"], knobs["heads"], ff_width(knobs)
    per_layer = 10 * time * units + 2 * heads * time * time + time * ff
    if knobs["dropout"] > 0:
        per_layer += 2 * time * units
    projection = time * units if features != units else 0
    return projection + knobs["depth"] * per_layer


@keras.saving.register_keras_serializable(package="blockbench")
class TransformerBlock(BlockLayer):
    """Post-LN Transformer encoder layers x depth; see `blocks.transformer`.

    >>> TransformerBlock(units=8, heads=2).compute_output_shape((None, 10, 5))
    (None, 10, 8)
    """

    def __init__(
        self,
        units: int,
        heads: int = 4,
        ff_units: int | None = None,
        depth: int = 1,
        dropout: float = 0.0,
        **kwargs,
    ):
        knobs = dict(units=units, heads=heads, ff_units=ff_units, depth=depth, dropout=dropout)
        super().__init__(knobs, **kwargs)
        ff = ff_width(self.knobs)
        # Used (and built) only when the input's feature dimension is not `units`.
        self.projection = keras.layers.Dense(units)
        self.projects = False
        self.attentions, self.attention_norms, self.attention_dropouts = [], [], []
        self.ffn_hiddens, self.ffn_outputs, self.ffn_norms, self.ffn_dropouts = [], [], [], []
        for _ in range(depth):
            self.attentions.append(
                keras.layers.MultiHeadAttention(num_heads=heads, key_dim=units // heads)
            )
            self.attention_norms.append(keras.layers.LayerNormalization())
            self.ffn_hiddens.append(keras.layers.Dense(ff, activation="relu"))
            self.ffn_outputs.append(keras.layers.Dense(units))
            self.ffn_norms.append(keras.layers.LayerNormalization())
            if dropout > 0:
                self.attention_dropouts.append(keras.layers.Dropout(dropout))
                self.ffn_dropouts.append(keras.layers.Dropout(dropout))

    def build_layers(self, input_shape):
        shape = input_shape
        units = self.knobs["units"]
        self.projects = shape[-1] != units
        if self.projects:
            self.projection.build(shape)
            shape = (*shape[:-1], units)
        for index in range(self.knobs["depth"]):
            self.attentions[index].build(shape, shape)
            self.attention_norms[index].build(shape)
            self.ffn_hiddens[index].build(shape)
            self.ffn_outputs[index].build((*shape[:-1], ff_width(self.knobs)))
            self.ffn_norms[index].build(shape)

    def call(self, inputs, training=None):
        x = self.projection(inputs) if self.projects else inputs
        for index in range(self.knobs["depth"]):
            attended = self.attentions[index](x, x)
            if self.attention_dropouts:
                attended = self.attention_dropouts[index](attended)
            x = self.attention_norms[index](x + attended)
            transformed = self.ffn_outputs[index](self.ffn_hiddens[index](x))
            if self.ffn_dropouts:
                transformed = self.ffn_dropouts[index](transformed)
            x = self.ffn_norms[index](x + transformed)
        return x


SPEC = BlockSpec(
    name=NAME,
    layer=TransformerBlock,
    defaults=DEFAULTS,
    capacity_knobs=("units", "depth"),
    input_rank=2,
    check=_check,
    output_shape=_output_shape,
    params=_params,
    flops=_flops,
    activations=_activations,
    small_knobs={
        "units": (4, 2, 6),
        "heads": (2, 1, 3),
        "ff_units": (None, 3),
        "depth": (1, 2),
        "dropout": (0.0, 0.1),
    },
    small_inputs=((3, 4), (2, 6), (4, 3)),
    summary="post-LN Transformer encoder layer (MHA + FFN), x depth",
)
TransformerBlock.spec = SPEC  # the layer validates its knobs against its registry entry
