"""Is B faster or slower than A? Two raw sample sets of seconds per step, compared.

The rule is asv's: a change counts only when it is larger than a threshold (``|B/A - 1| >
threshold``, on medians) **and** a two-sided Mann–Whitney U test on the raw samples gives
``p < alpha``. When the sample counts are too small for any arrangement to reach
``p < alpha`` (the smallest exact two-sided p is ``2 / C(n_a + n_b, n_a)``: 0.0079 for 5
vs 5), a change beyond the threshold gets the verdict ``insufficient samples`` instead of
a silent ``same``; a change within the threshold is ``same`` whatever the counts (the test
could not make it anything else), and ``testable`` is False so callers can say so.

The 95% interval of the ratio of medians B/A is a percentile bootstrap: 2,000 resamples of
each set (with replacement, independently), numpy's generator with a fixed seed (0), so the
same samples always give the same interval.

>>> result = compare_samples([1.0] * 10, [1.5] * 10)
>>> result.verdict, round(result.ratio, 2)
('slower', 1.5)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import mannwhitneyu

FASTER, SLOWER, SAME, INSUFFICIENT = "faster", "slower", "same", "insufficient samples"
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95


@dataclass(frozen=True)
class SampleComparison:
    """B against A: medians, ratio B/A with its bootstrap interval, p-values, verdict."""

    count_a: int
    count_b: int
    median_a: float
    median_b: float
    ratio: float
    ratio_low: float
    ratio_high: float
    p_value: float
    min_p_value: float
    verdict: str
    alpha: float

    @property
    def testable(self) -> bool:
        """Whether these sample counts can reach ``p < alpha`` at all."""
        return self.min_p_value < self.alpha


def min_p_value(count_a: int, count_b: int) -> float:
    """The smallest two-sided p an exact Mann–Whitney test can give for these counts.

    >>> round(min_p_value(5, 5), 4), min_p_value(1, 1)
    (0.0079, 1.0)
    """
    return min(1.0, 2.0 / math.comb(count_a + count_b, count_a))


def samples_needed(alpha: float) -> int:
    """The fewest samples per side (equal counts) with which ``p < alpha`` is reachable.

    >>> samples_needed(0.002), samples_needed(0.05)
    (7, 4)
    """
    count = 1
    while min_p_value(count, count) >= alpha:
        count += 1
    return count


def bootstrap_ratio(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Percentile bootstrap interval of median(b) / median(a) (fixed seed)."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    medians_a = np.median(a[rng.integers(0, len(a), (BOOTSTRAP_RESAMPLES, len(a)))], axis=1)
    medians_b = np.median(b[rng.integers(0, len(b), (BOOTSTRAP_RESAMPLES, len(b)))], axis=1)
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.percentile(medians_b / medians_a, [tail, 100 - tail])
    return float(low), float(high)


def compare_samples(
    samples_a: Sequence[float],
    samples_b: Sequence[float],
    *,
    threshold: float = 0.10,
    alpha: float = 0.002,
) -> SampleComparison:
    """Compare two sets of positive samples (seconds per step); raises on an empty set.

    >>> compare_samples([1.0, 1.1, 0.9] * 4, [1.0, 1.1, 0.9] * 4).verdict
    'same'
    >>> compare_samples([1.0, 1.1, 0.9, 1.05, 0.95], [2.0, 2.2, 1.8, 2.1, 1.9]).verdict
    'insufficient samples'
    >>> small = compare_samples([1.0, 1.1, 0.9], [1.0, 1.1, 0.9])
    >>> small.verdict, small.testable
    ('same', False)
    """
    a = np.asarray(samples_a, dtype=float)
    b = np.asarray(samples_b, dtype=float)
    if a.size == 0 or b.size == 0:
        raise ValueError("both sample sets need at least one sample")
    median_a, median_b = float(np.median(a)), float(np.median(b))
    ratio = median_b / median_a
    low, high = bootstrap_ratio(a, b)
    if np.all(a == a[0]) and np.all(b == a[0]):
        p_value = 1.0  # every sample equal: no evidence of a difference
    else:
        p_value = float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
    floor = min_p_value(a.size, b.size)
    if abs(ratio - 1.0) <= threshold:
        verdict = SAME
    elif floor >= alpha:
        verdict = INSUFFICIENT
    elif p_value < alpha:
        verdict = SLOWER if ratio > 1.0 else FASTER
    else:
        verdict = SAME
    return SampleComparison(
        count_a=int(a.size),
        count_b=int(b.size),
        median_a=median_a,
        median_b=median_b,
        ratio=ratio,
        ratio_low=low,
        ratio_high=high,
        p_value=p_value,
        min_p_value=floor,
        verdict=verdict,
        alpha=alpha,
    )
