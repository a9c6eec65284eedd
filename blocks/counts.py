"""Count records shared by the cost model, and the per-element FLOP conventions.

FLOP conventions (forward pass of one sample, as run in a training step):

- a multiply-add is 2 FLOPs: a matmul ``[m, k] x [k, n]`` is ``2*m*k*n``, a convolution is
  ``2 * output_elements * kernel_height * kernel_width * input_channels``;
- bias add, elementwise add/multiply, and an activation function (relu, sigmoid, tanh): 1 per
  element;
- batch normalisation: 4 per element (subtract mean, scale by 1/std, times gamma, plus beta);
  computing the batch statistics is not counted;
- layer normalisation: 7 per element (mean, subtract, square, variance, scale, gamma, beta);
- softmax: 5 per element (max, subtract, exp, sum, divide);
- dropout: 1 per element (the mask multiply), counted whenever the Dropout layer exists;
- 2x2 max pooling: 3 comparisons per output element.

Only the matmul part (matmuls and convolutions) is cross-checked against XLA; the elementwise
part is an honest estimate of a smaller term.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ACTIVATION_FLOPS = 1
BIAS_FLOPS = 1
ADD_FLOPS = 1
BATCH_NORM_FLOPS = 4
LAYER_NORM_FLOPS = 7
SOFTMAX_FLOPS = 5
DROPOUT_FLOPS = 1
MAX_POOL_FLOPS = 3


@dataclass(frozen=True)
class ParamCount:
    """Trainable and non-trainable parameter counts.

    >>> ParamCount(trainable=10, non_trainable=4).total
    14
    >>> (ParamCount(1, 2) + ParamCount(3, 4)).total
    10
    """

    trainable: int
    non_trainable: int = 0

    @property
    def total(self) -> int:
        return self.trainable + self.non_trainable

    def __add__(self, other: ParamCount) -> ParamCount:
        return ParamCount(
            self.trainable + other.trainable, self.non_trainable + other.non_trainable
        )


@dataclass(frozen=True)
class FlopCount:
    """Forward FLOPs per sample: ``matmul`` (matmuls and convolutions) and ``elementwise``.

    >>> FlopCount(matmul=100, elementwise=7).total
    107
    >>> (FlopCount(1, 2) + FlopCount(3, 4)).matmul
    4
    """

    matmul: int
    elementwise: int = 0

    @property
    def total(self) -> int:
        return self.matmul + self.elementwise

    def __add__(self, other: FlopCount) -> FlopCount:
        return FlopCount(self.matmul + other.matmul, self.elementwise + other.elementwise)

    def __mul__(self, factor: int) -> FlopCount:
        return FlopCount(self.matmul * factor, self.elementwise * factor)


def size(shape: tuple[int, ...]) -> int:
    """Number of elements of a shape (the empty shape has one).

    >>> size((2, 3, 4))
    24
    """
    return math.prod(shape)
