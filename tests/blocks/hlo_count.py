"""Count matmul and convolution FLOPs in XLA HLO text: an independent check of `blocks.cost`.

Only ``dot`` and ``convolution`` instructions are counted (2 FLOPs per multiply-add):
a dot costs ``2 * output_elements * product(lhs contracting dims)``, a convolution
``2 * output_elements * kernel_elements / output_features``. Loops are not multiplied out:
count unrolled code (for example Keras RNN layers with ``unroll=True``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

_SHAPE = r"\w+\[([\d,]*)\]\S*"
_INSTRUCTION = re.compile(
    rf"=\s*{_SHAPE}\s+(dot|convolution)\(\s*{_SHAPE}\s+%?[\w.\-]+,\s*{_SHAPE}\s+%?[\w.\-]+\)(.*)$"
)


def _dims(text: str) -> list[int]:
    return [int(d) for d in text.split(",") if d]


def hlo_matmul_flops(hlo_text: str) -> int:
    """FLOPs of the ``dot`` and ``convolution`` instructions in HLO text.

    >>> line = ("%d = f32[2,16]{1,0} dot(f32[2,8]{1,0} %a, f32[8,16]{1,0} %b), "
    ...         "lhs_contracting_dims={1}, rhs_contracting_dims={0}")
    >>> hlo_matmul_flops(line)  # 2 * (2*16) * 8
    512
    """
    total = 0
    for line in hlo_text.splitlines():
        match = _INSTRUCTION.search(line)
        if not match:
            continue
        out, op, lhs, rhs, attributes = match.groups()
        out_elements = math.prod(_dims(out))
        if op == "dot":
            contracting = re.search(r"lhs_contracting_dims=\{([\d,]*)\}", attributes)
            lhs_dims = _dims(lhs)
            depth = math.prod(lhs_dims[i] for i in _dims(contracting.group(1)))
        else:
            labels = re.search(r"dim_labels=\w+_(\w+)->", attributes).group(1)
            kernel = _dims(rhs)
            depth = math.prod(kernel) // kernel[labels.index("o")]
        total += 2 * out_elements * depth
    return total


def xla_matmul_flops(fn: Callable[..., Any], *args: Any) -> int:
    """Matmul and convolution FLOPs of ``fn(*args)`` as lowered by XLA (TensorFlow backend).

    Reads the unoptimised HLO (stage "hlo"), where every operand is printed with its shape.

    >>> import tensorflow as tf
    >>> xla_matmul_flops(lambda x: tf.matmul(x, x), tf.ones((4, 4)))  # 2 * 4*4 * 4
    128
    """
    import tensorflow as tf

    compiled = tf.function(fn, jit_compile=True, autograph=False)
    return hlo_matmul_flops(compiled.experimental_get_compiler_ir(*args)(stage="hlo"))
