"""Closed-form memory estimate of a training or inference step: the number a measured
allocator peak is set beside. Pure arithmetic over `blocks.cost`; no TensorFlow.
"""

from __future__ import annotations

import math

from blocks import cost
from blocks.registry import output_shape
from blocks.spec import Shape

INPUT_BYTES = 4  # the timing loop feeds float32 inputs ...
LABEL_BYTES = 4  # ... and int32 labels, two batches stacked
ADAM_SLOTS = 2  # Adam keeps two moments per trainable weight


def dtype_bytes(policy: str) -> tuple[int, int]:
    """(variable bytes, compute bytes) per element under a Keras dtype policy.

    >>> dtype_bytes("float32"), dtype_bytes("mixed_bfloat16"), dtype_bytes("float16")
    ((4, 4), (4, 2), (2, 2))
    """
    if policy.startswith("mixed_"):
        return 4, 2
    if policy in ("float16", "bfloat16"):
        return 2, 2
    if policy == "float64":
        return 8, 8
    return 4, 4


def estimate(
    block: str,
    input_shape: Shape,
    *,
    batch_size: int,
    pass_: str,
    params: int,
    trainable: int,
    num_classes: int,
    dtype_policy: str = "float32",
    **knobs: object,
) -> dict[str, int]:
    """Predicted allocator peak of a timing step of ``block`` under a classifier head, in
    bytes, by part. ``params``/``trainable`` count the whole model (head included).

    The model, per part (B = batch size, v = variable bytes, c = compute bytes of the
    cell's dtype policy, e.g. 4 and 4 for float32, 4 and 2 for mixed_bfloat16):

    - ``weights``: every parameter (non-trainable ones too), ``params * v``;
    - ``gradients`` (train only): one per trainable weight, ``trainable * v``;
    - ``optimizer`` (train only): Adam's two moments, ``2 * trainable * v``;
    - ``activations``: train keeps every sublayer output for the backward pass:
      ``blocks.cost.activations`` plus the step's input batch and the head's output,
      ``* B * c``. Forward frees each output once its consumer ran, so it counts one
      stage of the block (the activations of the block at ``depth=1``: the largest stage
      for our blocks, whose stages keep or shrink their size), or the whole block when it
      has no ``depth`` knob, plus the input batch and the head; an approximation;
    - ``inputs``: the two stacked batches the timing loop feeds, ``2 * B * input`` float32
      plus ``2 * B`` int32 labels.

    Not modelled: the backward pass's temporaries (gradients of activations, batch-norm
    and convolution backprop buffers) and the optimizer's per-weight temporaries, which
    put measured train peaks at about 2 to 3.6 times this estimate on CPU; allocator
    rounding and fragmentation; the loss; XLA's buffer reuse. A forward cell's peak is
    measured over K-step loops whose independent iterations TensorFlow may overlap, so it
    can hold several steps' activations at once.

    >>> parts = estimate("dense", (32,), batch_size=8, pass_="train", params=2_762,
    ...                  trainable=2_634, num_classes=10, units=64)
    >>> parts["optimizer"]  # Adam: 2 moments x 2,634 trainable weights x 4 bytes
    21072
    >>> parts["activations"]  # (32 inputs + 128 Dense/BN outputs + 10 logits) x 8 x 4
    5440
    """
    variable, compute = dtype_bytes(dtype_policy)
    shape = tuple(input_shape)
    batch = batch_size
    input_elements = math.prod(shape)
    parts = {"weights": params * variable}
    if pass_ == "train":
        parts["gradients"] = trainable * variable
        parts["optimizer"] = ADAM_SLOTS * trainable * variable
        kept = cost.activations(block, shape, **knobs)
    else:
        kept = _one_stage_activations(block, shape, knobs)
    out_shape = tuple(output_shape(block, shape, **knobs))
    head = num_classes + (out_shape[-1] if len(out_shape) > 1 else 0)  # logits (+ pooled)
    parts["activations"] = (input_elements + kept + head) * batch * compute
    parts["inputs"] = 2 * batch * (input_elements * INPUT_BYTES + LABEL_BYTES)
    return parts


def _one_stage_activations(block: str, shape: Shape, knobs: dict[str, object]) -> int:
    total = cost.activations(block, shape, **knobs)
    try:
        one = cost.activations(block, shape, **{**knobs, "depth": 1})
    except (TypeError, ValueError):  # no depth knob, or widths given as a list
        return total
    return min(total, one)
