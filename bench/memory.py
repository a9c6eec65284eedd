"""Memory of one cell: the measured allocator and RSS peaks, and a closed-form estimate.

`PeakTracker` measures a phase: ``start()`` resets the TensorFlow allocator peak of the
cell's device and the process's RSS high-water mark, ``stop()`` reads both back.
`estimate` predicts the allocator peak from the cell alone (see its docstring for the model).

>>> tracker = PeakTracker("cpu")
>>> tracker.start()  # doctest: +SKIP
>>> peak = tracker.stop()  # doctest: +SKIP
>>> peak.allocator  # doctest: +SKIP
'CPU:0 BFC (TF_CPU_ALLOCATOR_USE_BFC=true)'
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from bench.cell import DEVICES, Cell
from bench.text import first_line

_TF_DEVICE = {"cpu": "CPU:0", "gpu": "GPU:0"}
_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
RSS_SAMPLE_S = 0.005  # sampling period of the fallback RSS thread


@dataclass(frozen=True)
class Peak:
    """Peaks of one measured phase.

    ``peak_bytes`` is the allocator peak since ``start()`` (``None`` when the allocator
    keeps no stats; ``allocator`` then starts with ``"unavailable: "`` and says why).
    ``rss_peak_bytes`` is the process's resident-set peak during the phase: an absolute
    size (TensorFlow's own runtime included), not a difference. ``start_bytes`` is what
    the allocator held at ``start()``: the peak includes it, and in a worker that already
    ran cells it includes what earlier cells left allocated.
    """

    peak_bytes: int | None
    allocator: str
    rss_peak_bytes: int | None
    start_bytes: int | None = None


class PeakTracker:
    """Allocator and RSS peak of the code run between ``start()`` and ``stop()``.

    The allocator peak comes from ``tf.config.experimental.get_memory_info`` after
    ``reset_memory_stats`` on ``CPU:0`` or ``GPU:0``. The RSS peak comes from Linux's
    ``VmHWM`` (reset by writing ``5`` to ``/proc/self/clear_refs``), or, where that is not
    possible, from a thread sampling ``psutil`` every few milliseconds (which can miss
    short spikes).

    >>> tracker = PeakTracker("cpu")
    >>> tracker.start()  # doctest: +SKIP
    >>> big = tf.zeros((1024, 1024))  # 4 MiB  # doctest: +SKIP
    >>> tracker.stop().peak_bytes >= 4 * 2**20  # doctest: +SKIP
    True
    """

    def __init__(self, device: str):
        if device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
        self.device = device
        self._tf_device = _TF_DEVICE[device]
        self._unavailable = ""
        self._start_bytes: int | None = None
        self._rss: _RssPeak | None = None

    def start(self) -> None:
        """Reset the allocator peak and the RSS high-water mark."""
        import tensorflow as tf

        self._unavailable = ""
        self._start_bytes = None
        try:
            tf.config.experimental.reset_memory_stats(self._tf_device)
            info = tf.config.experimental.get_memory_info(self._tf_device)
            self._start_bytes = int(info["current"])
        except (ValueError, tf.errors.OpError) as error:
            self._unavailable = f"unavailable: {self._tf_device}: {first_line(error)}"
        if self._rss is not None:
            self._rss.stop()
        self._rss = _RssPeak()

    def stop(self) -> Peak:
        """Read the peaks since ``start()``."""
        import tensorflow as tf

        if self._rss is None:
            raise RuntimeError("PeakTracker.stop() called before start()")
        rss_peak = self._rss.stop()
        self._rss = None
        if self._unavailable:
            return Peak(None, self._unavailable, rss_peak)
        try:
            peak = int(tf.config.experimental.get_memory_info(self._tf_device)["peak"])
        except (ValueError, tf.errors.OpError) as error:
            return Peak(None, f"unavailable: {self._tf_device}: {first_line(error)}", rss_peak)
        return Peak(peak, allocator_name(self.device), rss_peak, self._start_bytes)


def allocator_name(device: str) -> str:
    """What the allocator stats of ``device`` measure, from the environment TF started with.

    >>> allocator_name("gpu")  # doctest: +SKIP
    'GPU:0 BFC'
    """
    if device == "gpu":
        kind = os.environ.get("TF_GPU_ALLOCATOR", "")
        return f"GPU:0 {kind}" if kind else "GPU:0 BFC"
    if os.environ.get("TF_CPU_ALLOCATOR_USE_BFC", "").lower() in ("true", "1"):
        return "CPU:0 BFC (TF_CPU_ALLOCATOR_USE_BFC=true)"
    return "CPU:0 default allocator (TF_CPU_ALLOCATOR_USE_BFC unset)"


class _RssPeak:
    """Process RSS high-water mark from now on: ``VmHWM`` if resettable, else sampled."""

    def __init__(self) -> None:
        self._samples: list[int] = []
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self.method = "VmHWM" if _reset_hwm() else "sampled"
        if self.method == "sampled":
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()

    def _sample(self) -> None:
        import psutil

        process = psutil.Process()
        while True:
            self._samples.append(process.memory_info().rss)
            if self._done.wait(RSS_SAMPLE_S):
                return

    def stop(self) -> int | None:
        if self._thread is None:
            return _status_bytes("VmHWM")
        self._done.set()
        self._thread.join()
        self._thread = None
        return max(self._samples, default=None)


def _reset_hwm() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return _status_bytes("VmHWM") is not None


def _status_bytes(key: str) -> int | None:
    """A ``kB`` field of ``/proc/self/status`` in bytes, or ``None``."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


# -- estimate ------------------------------------------------------------------------
INPUT_BYTES = 4  # execute.py feeds float32 inputs ...
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


def estimate(cell: Cell, *, params: int, trainable: int) -> dict[str, int]:
    """Predicted allocator peak of a timing cell, in bytes, by part.

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
    - ``inputs``: the two stacked batches execute.py builds, ``2 * B * input`` float32
      plus ``2 * B`` int32 labels.

    Not modelled: the backward pass's temporaries (gradients of activations, batch-norm
    and convolution backprop buffers) and the optimizer's per-weight temporaries, which
    put measured train peaks at about 2 to 3.6 times this estimate on CPU; allocator
    rounding and fragmentation; the loss; XLA's buffer reuse. A forward cell's peak is
    measured over K-step loops whose independent iterations TensorFlow may overlap, so it
    can hold several steps' activations at once.

    >>> from bench.cell import Cell
    >>> cell = Cell("dense", (("units", 64),), (32,), 8, "train")
    >>> parts = estimate(cell, params=2_762, trainable=2_634)  # doctest: +SKIP
    >>> parts["optimizer"]  # doctest: +SKIP
    21072
    """
    import blocks
    from bench.model import NUM_CLASSES

    variable, compute = dtype_bytes(cell.dtype_policy)
    shape = tuple(cell.input_shape)
    batch = cell.batch_size
    input_elements = math.prod(shape)
    parts = {"weights": params * variable}
    if cell.pass_ == "train":
        parts["gradients"] = trainable * variable
        parts["optimizer"] = ADAM_SLOTS * trainable * variable
        block = blocks.cost.activations(cell.block, shape, **cell.knob_dict)
    else:
        block = _one_stage_activations(cell)
    out_shape = tuple(blocks.output_shape(cell.block, shape, **cell.knob_dict))
    head = NUM_CLASSES + (out_shape[-1] if len(out_shape) > 1 else 0)  # logits (+ pooled)
    parts["activations"] = (input_elements + block + head) * batch * compute
    parts["inputs"] = 2 * batch * (input_elements * INPUT_BYTES + LABEL_BYTES)
    return parts


def _one_stage_activations(cell: Cell) -> int:
    import blocks

    shape = tuple(cell.input_shape)
    total = blocks.cost.activations(cell.block, shape, **cell.knob_dict)
    try:
        one = blocks.cost.activations(cell.block, shape, **{**cell.knob_dict, "depth": 1})
    except (TypeError, ValueError):  # no depth knob, or widths given as a list
        return total
    return min(total, one)
