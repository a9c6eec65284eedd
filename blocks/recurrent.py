"""The `recurrent` block: [LSTM | GRU | SimpleRNN -> Dropout] repeated `depth` times.

One stage is the seed's recurrent block: ``LSTM(units, return_sequences=...)`` then
``Dropout(0.2)``. ``cell`` picks the layer (Keras defaults otherwise: GRU uses
``reset_after=True``, so its bias has shape ``(2, 3*units)``); ``dropout=0`` leaves the
Dropout layers out. Inner layers of a deep block return sequences; ``return_sequences``
applies to the last one. Input is ``(time, features)``.

Cost model, per timestep of one layer with input width ``d`` and ``u`` units, ``g`` gates
(LSTM 4, GRU 3, SimpleRNN 1):

- matmuls: ``2*g*u*d`` (input kernel) + ``2*g*u*u`` (recurrent kernel);
- elementwise: LSTM 17u (4u add of the two projections, 4u bias, 4u gate activations,
  3u cell update ``f*c + i*g``, u tanh(c), u ``o*tanh(c)``); GRU 17u (6u for its two
  biases, 2u each for the update and reset gates, 3u candidate ``tanh(x_h + r*h_h)``, 4u
  ``z*h + (1-z)*h~``); SimpleRNN 3u (add, bias, tanh);
- activations kept for the backward pass, roughly: LSTM 7u per step (4 gates, c, tanh(c),
  h), GRU 7u per step (3 gates, the 3u recurrent projection that reset_after needs, h),
  SimpleRNN 1u per step (h), plus each layer's output and each Dropout output.
"""

from __future__ import annotations

import keras

from blocks.base import BlockLayer
from blocks.counts import DROPOUT_FLOPS, FlopCount, ParamCount, size
from blocks.spec import (
    REQUIRED,
    BlockSpec,
    Knobs,
    Shape,
    check_bool,
    check_choice,
    check_positive_int,
    check_rate,
)

NAME = "recurrent"
DEFAULTS = {
    "units": REQUIRED,
    "depth": 1,
    "cell": "lstm",
    "return_sequences": True,
    "dropout": 0.2,
}
CELLS = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "simple_rnn": keras.layers.SimpleRNN}
GATES = {"lstm": 4, "gru": 3, "simple_rnn": 1}
ELEMENTWISE_PER_STEP = {"lstm": 17, "gru": 17, "simple_rnn": 3}  # times units
KEPT_PER_STEP = {"lstm": 7, "gru": 7, "simple_rnn": 1}  # times units


def _check(knobs: Knobs, given: frozenset[str]) -> None:
    check_positive_int(NAME, "units", knobs["units"])
    check_positive_int(NAME, "depth", knobs["depth"])
    check_choice(NAME, "cell", knobs["cell"], tuple(CELLS))
    check_bool(NAME, "return_sequences", knobs["return_sequences"])
    check_rate(NAME, "dropout", knobs["dropout"])


def _layers(shape: Shape, knobs: Knobs) -> list[tuple[int, Shape]]:
    """(input width, output shape) of every recurrent layer."""
    time, width = shape
    units, depth = knobs["units"], knobs["depth"]
    layers = []
    for index in range(depth):
        sequences = index < depth - 1 or knobs["return_sequences"]
        layers.append((width, (time, units) if sequences else (units,)))
        width = units
    return layers


def _output_shape(shape: Shape, knobs: Knobs) -> Shape:
    return _layers(shape, knobs)[-1][1]


def _params(shape: Shape, knobs: Knobs) -> ParamCount:
    units, cell = knobs["units"], knobs["cell"]
    gates = GATES[cell]
    total = 0
    for width, _ in _layers(shape, knobs):
        kernels = gates * units * (width + units)
        biases = 2 * gates * units if cell == "gru" else gates * units  # GRU: reset_after
        total += kernels + biases
    return ParamCount(total)


def _flops(shape: Shape, knobs: Knobs) -> FlopCount:
    time = shape[0]
    units, cell = knobs["units"], knobs["cell"]
    gates = GATES[cell]
    total = FlopCount(0)
    for width, out in _layers(shape, knobs):
        matmul = time * 2 * gates * units * (width + units)
        elementwise = time * ELEMENTWISE_PER_STEP[cell] * units
        if knobs["dropout"] > 0:
            elementwise += size(out) * DROPOUT_FLOPS
        total += FlopCount(matmul, elementwise)
    return total


def _activations(shape: Shape, knobs: Knobs) -> int:
    time = shape[0]
    units, cell = knobs["units"], knobs["cell"]
    total = 0
    for _, out in _layers(shape, knobs):
        total += time * KEPT_PER_STEP[cell] * units + size(out)
        if knobs["dropout"] > 0:
            total += size(out)
    return total


@keras.saving.register_keras_serializable(package="blockbench")
class RecurrentBlock(BlockLayer):
    """[LSTM | GRU | SimpleRNN -> Dropout] x depth; see `blocks.recurrent`.

    >>> layer = RecurrentBlock(units=16, return_sequences=False)
    >>> layer.compute_output_shape((None, 100, 5))
    (None, 16)
    """

    def __init__(
        self,
        units: int,
        depth: int = 1,
        cell: str = "lstm",
        return_sequences: bool = True,
        dropout: float = 0.2,
        **kwargs,
    ):
        knobs = dict(
            units=units, depth=depth, cell=cell, return_sequences=return_sequences, dropout=dropout
        )
        super().__init__(knobs, **kwargs)
        for index in range(depth):
            sequences = index < depth - 1 or return_sequences
            self.stack.append(CELLS[cell](units, return_sequences=sequences))
            if dropout > 0:
                self.stack.append(keras.layers.Dropout(dropout))


SPEC = BlockSpec(
    name=NAME,
    layer=RecurrentBlock,
    defaults=DEFAULTS,
    capacity_knobs=("units", "depth"),
    input_rank=2,
    check=_check,
    output_shape=_output_shape,
    params=_params,
    flops=_flops,
    activations=_activations,
    small_knobs={
        "units": (2, 3, 1),
        "depth": (1, 2),
        "cell": ("lstm", "gru", "simple_rnn"),
        "return_sequences": (True, False),
        "dropout": (0.2, 0.0),
    },
    small_inputs=((3, 2), (5, 4), (1, 3)),
    summary="LSTM | GRU | SimpleRNN -> Dropout, x depth",
)
RecurrentBlock.spec = SPEC  # the layer validates its knobs against its registry entry
