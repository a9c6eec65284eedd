"""Memory of one cell: the measured allocator and RSS peaks, and a closed-form estimate.

`PeakTracker` measures a phase: ``start()`` resets the TensorFlow allocator peak of the
cell's device and the process's RSS high-water mark, ``stop()`` reads both back.
The closed-form estimate it is compared with is `blocks.memory.estimate`.

>>> tracker = PeakTracker("cpu")
>>> tracker.start()  # doctest: +SKIP
>>> peak = tracker.stop()  # doctest: +SKIP
>>> peak.allocator  # doctest: +SKIP
'CPU:0 BFC (TF_CPU_ALLOCATOR_USE_BFC=true)'
"""

from __future__ import annotations

import abc
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from bench.results.text import first_line
from bench.spec.cell import DEVICES

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


class PeakReader(abc.ABC):
    """Peak memory of a phase on some framework: ``start()``, run it, ``stop()``."""

    @abc.abstractmethod
    def start(self) -> None: ...

    @abc.abstractmethod
    def stop(self) -> Peak: ...


class PeakTracker(PeakReader):
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
        self._rss: RssPeak | None = None

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
        self._rss = RssPeak()

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


class RssPeak:
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
