"""Statistics of raw timing samples. Raw samples are kept; everything here is derived.

>>> s = Stats.from_samples([4, 36, 45, 50, 75])
>>> s.mean, s.median, s.min
(42.0, 45.0, 4.0)
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

NOISE_THRESHOLD = 0.10  # IQR/median above this flags a cell as noisy


def quartiles(values: Sequence[float]) -> tuple[float, float]:
    """First and third quartile by linear interpolation (numpy's default method).

    >>> quartiles([1, 2, 3, 4, 5])
    (2.0, 4.0)
    """
    ordered = sorted(float(v) for v in values)
    return _quantile(ordered, 0.25), _quantile(ordered, 0.75)


def _quantile(ordered: Sequence[float], q: float) -> float:
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Stats:
    """Summary of one series of samples (seconds per step, typically)."""

    count: int
    median: float
    iqr: float
    min: float
    max: float
    mean: float
    stddev: float

    @classmethod
    def from_samples(cls, samples: Sequence[float]) -> Stats:
        """Summarise samples; raises ``ValueError`` on an empty series."""
        if not samples:
            raise ValueError("no samples to summarise")
        values = [float(v) for v in samples]
        q1, q3 = quartiles(values)
        return cls(
            count=len(values),
            median=float(statistics.median(values)),
            iqr=q3 - q1,
            min=min(values),
            max=max(values),
            mean=float(statistics.fmean(values)),
            stddev=float(statistics.stdev(values)) if len(values) > 1 else 0.0,
        )

    @property
    def relative_iqr(self) -> float:
        """IQR / median, the noise measure (0 when the median is 0)."""
        return self.iqr / self.median if self.median else 0.0

    @property
    def noisy(self) -> bool:
        """True when IQR/median exceeds 10%."""
        return self.relative_iqr > NOISE_THRESHOLD
